package config

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxExpandedNodes bounds how many values a file may hold once its
// aliases are expanded. Aliases are how journeys share settings, and each
// use is decoded again: without a bound, a few hundred bytes of aliases of
// aliases (a "billion laughs") expand to billions of values and hang the
// load. A real config expands to thousands.
const maxExpandedNodes = 1 << 20

// checkAliases reports a file whose aliases expand it beyond
// maxExpandedNodes, at the alias that expands the most.
func checkAliases(root *yaml.Node, file string) *FieldError {
	memo := map[*yaml.Node]int{}
	var worst *yaml.Node
	worstSize := 0
	var size func(n *yaml.Node) int
	size = func(n *yaml.Node) int {
		if n == nil {
			return 0
		}
		if s, ok := memo[n]; ok {
			return s
		}
		memo[n] = 0 // an alias of its own ancestor (YAML refuses those) adds nothing
		total := 1
		if n.Kind == yaml.AliasNode {
			total = size(n.Alias)
			if total >= worstSize {
				worst, worstSize = n, total
			}
		}
		for _, c := range n.Content {
			total = min(total+size(c), maxExpandedNodes+1)
		}
		memo[n] = total
		return total
	}
	if size(root) <= maxExpandedNodes || worst == nil {
		return nil
	}
	return &FieldError{File: file, Line: worst.Line,
		Msg: fmt.Sprintf("the aliases in the file (*%s and others) expand it to more than %d values; share settings with fewer levels of aliases", worst.Value, maxExpandedNodes)}
}

// yamlErrorLine is where a YAML error without a line happened. The YAML
// parser leaves the line out of errors on the first line, and of errors
// about the bytes themselves (invalid UTF-8, control characters), whose
// line is that of the first such byte.
func yamlErrorLine(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && n == 1) || !yamlPrintable(r) {
			return 1 + bytes.Count(data[:i], []byte("\n"))
		}
		i += n
	}
	return 1
}

// yamlPrintable reports whether YAML allows r in a stream (YAML 1.2
// §5.1, as the parser checks it).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20 || r == 0x7f:
		return false
	case r >= 0x80 && r < 0xa0:
		return r == 0x85
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
		return false
	}
	return true
}
