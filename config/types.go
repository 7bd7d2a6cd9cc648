package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go writes durations: 500ms, 30s, 1m30s.
type Duration time.Duration

// UnmarshalConfig decodes a duration, refusing negative ones.
func (d *Duration) UnmarshalConfig(dec *Decoder, n *yaml.Node, path Path) {
	s, ok := dec.Scalar(n, path, "a duration")
	if !ok {
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		dec.Errorf(n, path, "%q is not a duration; write a number with a unit, like 500ms, 30s or 1m30s", n.Value)
		return
	}
	if v < 0 {
		dec.Errorf(n, path, "%q is negative", n.Value)
		return
	}
	*d = Duration(v)
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as it would be written in the file.
func (d Duration) String() string { return time.Duration(d).String() }

// Regexp is a regular expression compiled when the config is loaded.
type Regexp struct{ *regexp.Regexp }

// UnmarshalConfig compiles the expression, reporting syntax errors at load.
func (r *Regexp) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	s, ok := d.Text(n, path, "a regular expression")
	if !ok {
		return
	}
	re, err := regexp.Compile(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		if s != n.Value {
			// The message quotes the pattern, which came from a reference.
			msg = "the value of " + n.Value + " does not compile"
		}
		d.Errorf(n, path, "is not a valid regular expression: %s", msg)
		return
	}
	r.Regexp = re
}

// StringList is a list of strings that may also be written as one string.
type StringList []string

// UnmarshalConfig accepts "x" as well as [x, y].
func (l *StringList) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	if n.Kind == yaml.ScalarNode {
		if s, ok := d.Text(n, path, "a string"); ok {
			*l = StringList{s}
		}
		return
	}
	var s []string
	d.Decode(n, path, &s)
	*l = s
}

// StatusSet is the set of HTTP status codes a step accepts: a code (200), a
// class ("2xx"), or a list of them.
type StatusSet []string

// UnmarshalConfig accepts 200, "2xx" or a list of those.
func (s *StatusSet) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	var items []*yaml.Node
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	} else {
		items = []*yaml.Node{n}
	}
	if len(items) == 0 {
		d.Errorf(n, path, "is empty; give a status like 200 or 2xx, or leave status out for the default")
		return
	}
	var out StatusSet
	for i, item := range items {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = path.Index(i)
		}
		v, ok := d.Scalar(item, p, "a status code like 200 or a class like 2xx")
		if !ok {
			continue
		}
		if !validStatus(v) {
			d.Errorf(item, p, "%q is not a status; write a code from 100 to 599, like 200, or a class, like 2xx", item.Value)
			continue
		}
		out = append(out, strings.ToLower(v))
	}
	*s = out
}

func validStatus(v string) bool {
	if len(v) == 3 && v[0] >= '1' && v[0] <= '5' && strings.EqualFold(v[1:], "xx") {
		return true
	}
	code, err := strconv.Atoi(v)
	return err == nil && code >= 100 && code <= 599
}

// Matches reports whether code is in the set.
func (s StatusSet) Matches(code int) bool {
	for _, v := range s {
		if strings.HasSuffix(v, "xx") {
			if code/100 == int(v[0]-'0') {
				return true
			}
		} else if v == strconv.Itoa(code) {
			return true
		}
	}
	return false
}

// String lists the set as it was written.
func (s StatusSet) String() string { return strings.Join(s, ", ") }

// ByteSize is a size in bytes, written as a number or with a unit: 512KiB, 2MiB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}

// UnmarshalConfig decodes a size.
func (b *ByteSize) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	s, ok := d.Scalar(n, path, "a size")
	if !ok {
		return
	}
	if err := b.Parse(s); err != nil {
		d.Errorf(n, path, "%q %v", n.Value, err)
	}
}

// Parse reads a size written as bytes or with a unit: 512KiB, 2MiB.
func (b *ByteSize) Parse(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<40)/mult {
		return fmt.Errorf("is not a size; write bytes or a number with a unit, like 512KiB or 2MiB")
	}
	*b = ByteSize(v * mult)
	return nil
}

// String formats the size with the largest exact binary unit.
func (b ByteSize) String() string {
	for i := 2; i >= 0; i-- {
		if u := byteUnits[i]; b >= ByteSize(u.mult) && int64(b)%u.mult == 0 {
			return fmt.Sprintf("%d%s", int64(b)/u.mult, u.suffix)
		}
	}
	return fmt.Sprintf("%dB", int64(b))
}
