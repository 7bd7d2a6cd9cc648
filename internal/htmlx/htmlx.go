// Package htmlx reads parsed HTML the way a browser submitting a form
// would: attributes, text, form fields and their values.
package htmlx

import (
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Attr returns an attribute of an element.
func Attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// Text is the text inside a node, scripts included.
func Text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// VisibleText is the text of a page as a reader sees it, without scripts,
// styles and the title.
func VisibleText(doc *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Title) {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

// FindAll returns the elements of the given kinds below n, in document order.
func FindAll(n *html.Node, atoms ...atom.Atom) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && slices.Contains(atoms, n.DataAtom) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// FieldValue is what a browser would submit for a form control: the value
// of an input, the text of a textarea, the selected option of a select.
func FieldValue(n *html.Node) string {
	switch n.DataAtom {
	case atom.Textarea:
		return Text(n)
	case atom.Select:
		opts := FindAll(n, atom.Option)
		pick := func(o *html.Node) string {
			if v, ok := Attr(o, "value"); ok {
				return v
			}
			return strings.TrimSpace(Text(o))
		}
		for _, o := range opts {
			if _, ok := Attr(o, "selected"); ok {
				return pick(o)
			}
		}
		if len(opts) > 0 {
			return pick(opts[0])
		}
		return ""
	}
	v, _ := Attr(n, "value")
	return v
}
