package probes

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/authprobe/authprobe/config"
)

// extract takes one variable's value out of a step's response.
func extract(run *Run, resp *Response, ex config.Extract) (string, error) {
	if resp == nil {
		return "", errNoResponse
	}
	switch {
	case ex.Regex != nil:
		m := ex.Regex.FindSubmatch(resp.Body)
		if m == nil {
			return "", fmt.Errorf("regex %q matches nothing in the body", ex.Regex.String())
		}
		if len(m) > 1 {
			return string(m[1]), nil
		}
		return string(m[0]), nil
	case !ex.JSON.IsZero():
		doc, err := resp.JSON()
		if err != nil {
			return "", err
		}
		v, ok := ex.JSON.Get(doc)
		if !ok {
			return "", fmt.Errorf("%s is not in the JSON body", ex.JSON)
		}
		switch v := v.(type) {
		case string:
			return v, nil
		case nil, map[string]any, []any:
			return "", fmt.Errorf("%s is not a string, number or boolean", ex.JSON)
		default:
			return fmt.Sprint(v), nil
		}
	case ex.Header != "":
		v := resp.Header.Get(ex.Header)
		if v == "" {
			return "", fmt.Errorf("header %s is missing", ex.Header)
		}
		return v, nil
	case ex.Cookie != "":
		u, err := url.Parse(resp.URL)
		if err != nil {
			return "", err
		}
		for _, c := range run.Jar.Cookies(u) {
			if c.Name == ex.Cookie {
				return c.Value, nil
			}
		}
		return "", fmt.Errorf("cookie %s is not set for %s", ex.Cookie, u.Host)
	case ex.CSS.Src != "":
		doc, err := resp.HTML()
		if err != nil {
			return "", err
		}
		n := ex.CSS.MatchFirst(doc)
		if n == nil {
			return "", fmt.Errorf("css %q matches no element", ex.CSS.Src)
		}
		if ex.Attr != "" {
			if v, ok := attr(n, ex.Attr); ok {
				return v, nil
			}
			return "", fmt.Errorf("the element matching %q has no attribute %s", ex.CSS.Src, ex.Attr)
		}
		return strings.TrimSpace(text(n)), nil
	case ex.FormField != "":
		doc, err := resp.HTML()
		if err != nil {
			return "", err
		}
		if v, ok := formField(doc, ex.FormField); ok {
			return v, nil
		}
		return "", fmt.Errorf("no form field named %s in the page", ex.FormField)
	}
	return "", errors.New("no source")
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
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

// visibleText is the text of a page as a reader sees it, without scripts
// and styles.
func visibleText(doc *html.Node) string {
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

// formField finds the value of the first input, select or textarea named
// name, in document order, as a browser would submit it.
func formField(doc *html.Node, name string) (string, bool) {
	var found *html.Node
	var walk func(*html.Node) bool
	walk = func(n *html.Node) bool {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Input || n.DataAtom == atom.Textarea || n.DataAtom == atom.Select) {
			if v, _ := attr(n, "name"); v == name {
				found = n
				return true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if walk(c) {
				return true
			}
		}
		return false
	}
	if !walk(doc) {
		return "", false
	}
	switch found.DataAtom {
	case atom.Textarea:
		return text(found), true
	case atom.Select:
		return selectedOption(found), true
	}
	v, _ := attr(found, "value")
	return v, true
}

func selectedOption(sel *html.Node) string {
	first, chosen := "", ""
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.Option {
			v, ok := attr(n, "value")
			if !ok {
				v = strings.TrimSpace(text(n))
			}
			if first == "" {
				first = v
			}
			if _, sel := attr(n, "selected"); sel && chosen == "" {
				chosen = v
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(sel)
	if chosen != "" {
		return chosen
	}
	return first
}
