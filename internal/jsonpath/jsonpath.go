// Package jsonpath evaluates the subset of JSONPath (RFC 9535) that picks one
// value out of a document: $.a.b, $.items[0].id, $["odd key"], $.list[-1].
// Filters, wildcards and recursive descent select many values and are not
// needed to extract a token or assert a field, so they are refused.
package jsonpath

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Path is a parsed path: a list of object keys (string) and list indexes (int).
type Path struct {
	src  string
	segs []any
}

// Parse parses a path. The leading "$" may be left out: "a.b" is "$.a.b".
func Parse(s string) (Path, error) {
	p := Path{src: s}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return p, errors.New("is empty; write a path like $.access_token")
	}
	if strings.HasPrefix(rest, "$") {
		rest = rest[1:]
	} else if rest[0] != '[' && rest[0] != '.' {
		rest = "." + rest
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			key := rest[:end]
			if key == "" || key == "*" || strings.HasPrefix(rest, ".") {
				return p, fmt.Errorf("%q: wildcards and recursive descent are not supported; name one field", s)
			}
			p.segs = append(p.segs, key)
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("%q: unclosed [", s)
			}
			inner := strings.TrimSpace(rest[1:end])
			if len(inner) >= 2 && (inner[0] == '"' || inner[0] == '\'') && inner[len(inner)-1] == inner[0] {
				key := inner[1 : len(inner)-1]
				if strings.ContainsAny(key, `"'`) {
					return p, fmt.Errorf("%q: quotes inside a [\"key\"] are not supported", s)
				}
				p.segs = append(p.segs, key)
			} else if i, err := strconv.Atoi(inner); err == nil {
				p.segs = append(p.segs, i)
			} else {
				return p, fmt.Errorf("%q: [%s] is not an index or a quoted key; filters and wildcards are not supported", s, inner)
			}
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("%q: unexpected %q; write a path like $.data.items[0].id", s, rest[:1])
		}
	}
	return p, nil
}

// String returns the path as written.
func (p Path) String() string { return p.src }

// Get returns the value at the path in a document decoded by encoding/json.
func (p Path) Get(doc any) (any, bool) {
	cur := doc
	for _, seg := range p.segs {
		switch seg := seg.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[seg]; !ok {
				return nil, false
			}
		case int:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			i := seg
			if i < 0 {
				i += len(l)
			}
			if i < 0 || i >= len(l) {
				return nil, false
			}
			cur = l[i]
		}
	}
	return cur, true
}
