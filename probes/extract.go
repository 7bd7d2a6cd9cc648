package probes

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/htmlx"
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
			if v, ok := htmlx.Attr(n, ex.Attr); ok {
				return v, nil
			}
			return "", fmt.Errorf("the element matching %q has no attribute %s", ex.CSS.Src, ex.Attr)
		}
		return strings.TrimSpace(htmlx.Text(n)), nil
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

// formField finds the value of the first input, select or textarea named
// name, in document order, as a browser would submit it.
func formField(doc *html.Node, name string) (string, bool) {
	for _, n := range htmlx.FindAll(doc, atom.Input, atom.Textarea, atom.Select) {
		if v, _ := htmlx.Attr(n, "name"); v == name {
			return htmlx.FieldValue(n), true
		}
	}
	return "", false
}
