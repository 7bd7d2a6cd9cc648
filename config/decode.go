package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// The config file is decoded by walking the YAML node tree with reflection
// instead of through viper's map: viper lower-cases every key, which would
// corrupt header names and variable names, and its decoder reports unknown
// keys without their position. Walking the nodes gives every error a field
// path and a line, and lets decoding continue so that all errors of a file
// are reported at once.

// Path is the location of a value in the config, written as the user would
// find it: journeys[1].steps[0].http.url.
type Path string

// Field returns the path of the named field below p.
func (p Path) Field(name string) Path {
	if p == "" {
		return Path(name)
	}
	return p + "." + Path(name)
}

// Index returns the path of the i-th element of the list at p.
func (p Path) Index(i int) Path { return Path(fmt.Sprintf("%s[%d]", p, i)) }

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Key returns the path of a user-chosen map key below p; keys that are not
// plain words are quoted so the path stays unambiguous.
func (p Path) Key(k string) Path {
	if plainKey.MatchString(k) {
		return p.Field(k)
	}
	return p + Path("["+strconv.Quote(k)+"]")
}

// Unmarshaler is implemented by config types that decode themselves from a
// YAML node, for values with more than one accepted form (a status given as
// 200 or "2xx", a duration, a template).
type Unmarshaler interface {
	UnmarshalConfig(d *Decoder, n *yaml.Node, path Path)
}

// Checker is implemented by config types that validate themselves once
// decoded. Check reports problems through c, naming fields relative to the
// checked value.
type Checker interface {
	Check(c *Check)
}

// Check reports validation problems of one decoded struct with the paths and
// lines of its fields.
type Check struct {
	d     *Decoder
	node  *yaml.Node
	path  Path
	lines map[string]int
}

// Errorf reports a problem with the named field ("" for the value itself).
func (c *Check) Errorf(field, format string, args ...any) {
	line := c.node.Line
	if l, ok := c.lines[field]; ok {
		line = l
	}
	c.ErrorAt(line, field, format, args...)
}

// ErrorAt is Errorf for a problem whose line the checker knows better, such
// as that of one element of a list field.
func (c *Check) ErrorAt(line int, field, format string, args ...any) {
	path := c.path
	if field != "" {
		path = path.Field(field)
	}
	c.d.add(line, path, fmt.Sprintf(format, args...))
}

// Has reports whether the named field was written in the file, as opposed to
// left at its default.
func (c *Check) Has(field string) bool { _, ok := c.lines[field]; return ok }

// Path is the path of the value being checked.
func (c *Check) Path() Path { return c.path }

// Depend records that the checked value depends on data, such as the
// content of a file it names, so that a change of data restarts its journey.
func (c *Check) Depend(data []byte) { c.d.Depend(c.path, data) }

// Dir is the directory of the config file; relative paths in the config
// (ca_file, ${file:...}) are relative to it.
func (c *Check) Dir() string { return c.d.secrets.dir }

// Decoder decodes YAML nodes into config types, collecting every error with
// its path and line instead of stopping at the first.
type Decoder struct {
	errs    Errors
	file    string
	secrets *secretResolver
	// public is above 0 while a field tagged public (a name, a location:
	// label values everyone sees) is decoded; its references are not secrets.
	public int
	// deps are values a path depends on beyond its YAML text: resolved
	// references and files read, for fingerprints.
	deps []dep
}

type dep struct {
	path Path
	data string
}

// Depend records that the value at path depends on data (a file's content),
// so that a change of data counts as a change of the config there.
func (d *Decoder) Depend(path Path, data []byte) { d.deps = append(d.deps, dep{path, string(data)}) }

func newDecoder(file string, secrets *secretResolver) *Decoder {
	return &Decoder{file: file, secrets: secrets}
}

func (d *Decoder) add(line int, path Path, msg string) {
	d.errs = append(d.errs, FieldError{File: d.file, Line: line, Path: path, Msg: msg})
}

// Errorf reports a problem with the value at path, found at node n.
func (d *Decoder) Errorf(n *yaml.Node, path Path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.add(line, path, fmt.Sprintf(format, args...))
}

func (d *Decoder) resolve(n *yaml.Node, path Path, s string, secret bool) (string, []ref, bool) {
	refs, err := parseRefs(s)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return "", nil, false
	}
	if len(refs) == 0 {
		return s, nil, true
	}
	ok := true
	for i := range refs {
		v, err := d.secrets.lookup(refs[i])
		if err != nil {
			d.Errorf(n, path, "%v", err)
			ok = false
			continue
		}
		refs[i].value = v
		if refs[i].kind == "literal" {
			continue
		}
		d.deps = append(d.deps, dep{path, v})
		if secret && d.public == 0 {
			d.secrets.markSecret(v)
		}
	}
	if !ok {
		return "", nil, false
	}
	var b strings.Builder
	last := 0
	for _, r := range refs {
		b.WriteString(s[last:r.start])
		b.WriteString(r.value)
		last = r.end
	}
	b.WriteString(s[last:])
	return b.String(), refs, true
}

// Decode decodes node n into out, which must be a pointer.
func (d *Decoder) Decode(n *yaml.Node, path Path, out any) {
	d.decode(n, path, reflect.ValueOf(out).Elem())
}

var unmarshalerType = reflect.TypeFor[Unmarshaler]()

func (d *Decoder) decode(n *yaml.Node, path Path, v reflect.Value) {
	n = resolveNode(n)
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		v.Addr().Interface().(Unmarshaler).UnmarshalConfig(d, n, path)
		return
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.String:
		if s, ok := d.Text(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.Scalar(n, path, "true or false")
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			d.Errorf(n, path, "%q is not a boolean; use true or false", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		s, ok := d.Scalar(n, path, "a whole number")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(i) {
			d.Errorf(n, path, "%q is not a whole number", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		s, ok := d.Scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.Errorf(n, path, "%q is not a number", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.Errorf(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

// scalar returns the text of a scalar node with its ${...} references
// resolved, reporting an error naming what was expected otherwise.
func (d *Decoder) scalar(n *yaml.Node, path Path, want string, secret bool) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, path, "must be %s, not %s", want, describe(n))
		return "", false
	}
	out, _, ok := d.resolve(n, path, n.Value, secret)
	return out, ok
}

// Scalar returns a scalar that is parsed into a number, a duration or a
// keyword: values resolved into it are not secrets. Error messages must
// quote n.Value, the text as written, not the result.
func (d *Decoder) Scalar(n *yaml.Node, path Path, want string) (string, bool) {
	return d.scalar(resolveNode(n), path, want, false)
}

// Text returns a scalar used as text (a header value, an expected body, a
// pattern). Values resolved into it are secrets unless the field is public,
// and error messages must not quote the result.
func (d *Decoder) Text(n *yaml.Node, path Path, want string) (string, bool) {
	return d.scalar(resolveNode(n), path, want, true)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return strconv.Quote(n.Value)
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func resolveNode(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// MappingPairs returns the key and value nodes of a mapping, with YAML merge
// keys (<<: *anchor) expanded as YAML defines them: keys written in the
// mapping win over merged ones, and earlier merges over later ones. A key
// written twice is an error.
func (d *Decoder) MappingPairs(n *yaml.Node, path Path) [][2]*yaml.Node {
	var pairs [][2]*yaml.Node
	seen := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], resolveNode(n.Content[i+1])
		if k.Tag == "!!merge" {
			if val.Kind == yaml.SequenceNode {
				for _, m := range val.Content {
					merges = append(merges, resolveNode(m))
				}
			} else {
				merges = append(merges, val)
			}
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, path.Key(k.Value), "is given more than once")
			continue
		}
		seen[k.Value] = true
		pairs = append(pairs, [2]*yaml.Node{k, val})
	}
	for _, m := range merges {
		if m.Kind != yaml.MappingNode {
			d.Errorf(m, path, "<< must merge a mapping (an anchor like *defaults), not %s", describe(m))
			continue
		}
		for _, kv := range d.MappingPairs(m, path) {
			if !seen[kv[0].Value] {
				seen[kv[0].Value] = true
				pairs = append(pairs, kv)
			}
		}
	}
	return pairs
}

type fieldInfo struct {
	name     string
	index    []int // reflect.Value.FieldByIndex
	required bool
	public   bool
}

var fieldCache sync.Map // reflect.Type -> []fieldInfo

// fields lists the YAML fields of a struct type from its `yaml` tags;
// fields without a tag or tagged "-" are not part of the file format. An
// embedded struct tagged ",inline" contributes its fields, as settings
// shared by several step kinds (an identity provider, a client) do.
func fields(t reflect.Type) []fieldInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]fieldInfo)
	}
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if tag == "" || tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" && strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for _, f := range fields(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		out = append(out, fieldInfo{name: name, index: []int{i},
			required: strings.Contains(opts, "required"), public: strings.Contains(opts, "public")})
	}
	fieldCache.Store(t, out)
	return out
}

var checkerType = reflect.TypeFor[Checker]()

func (d *Decoder) decodeStruct(n *yaml.Node, path Path, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "must be a mapping of fields, not %s", describe(n))
		return
	}
	d.DecodeFields(n, path, v.Addr().Interface(), func(k, _ *yaml.Node) {
		d.Errorf(k, path.Key(k.Value), "unknown field%s", suggest(k.Value, fieldNames(fields(v.Type()))))
	})
}

// DecodeFields decodes a mapping into the struct pointed to by out, handing
// keys that are not fields of out to extra. It is how a step decodes its
// fixed fields around its kind. The struct's Check runs only when its
// fields' own values decoded, so a typo is reported once, not again as every
// rule the zero value left in its place breaks.
func (d *Decoder) DecodeFields(n *yaml.Node, path Path, out any, extra func(k, v *yaml.Node)) {
	v := reflect.ValueOf(out).Elem()
	fs := fields(v.Type())
	lines := map[string]int{}
	clean := true
	for _, kv := range d.MappingPairs(n, path) {
		k, val := kv[0], kv[1]
		f, ok := findField(fs, k.Value)
		if !ok {
			extra(k, val)
			continue
		}
		lines[f.name] = k.Line
		before := len(d.errs)
		if f.public {
			d.public++
		}
		d.decode(val, path.Field(f.name), v.FieldByIndex(f.index))
		if f.public {
			d.public--
		}
		for _, e := range d.errs[before:] {
			if e.Path == path.Field(f.name) {
				clean = false
			}
		}
	}
	for _, f := range fs {
		if _, ok := lines[f.name]; f.required && !ok {
			d.Errorf(n, path.Field(f.name), "is required")
			clean = false
		}
	}
	if clean && v.CanAddr() && v.Addr().Type().Implements(checkerType) {
		v.Addr().Interface().(Checker).Check(&Check{d: d, node: n, path: path, lines: lines})
	}
}

func findField(fs []fieldInfo, name string) (fieldInfo, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return fieldInfo{}, false
}

func fieldNames(fs []fieldInfo) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

// suggest names the closest valid field, or lists them all when none is close.
func suggest(got string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if dist := editDistance(strings.ToLower(got), v); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	return "; valid fields are " + strings.Join(sorted, ", ")
}

// Suggest is suggest for Unmarshaler implementations.
func Suggest(got string, valid []string) string { return suggest(got, valid) }

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *Decoder) decodeSlice(n *yaml.Node, path Path, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "must be a list, not %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, path.Index(i), s.Index(i))
	}
	v.Set(s)
}

func (d *Decoder) decodeMap(n *yaml.Node, path Path, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "must be a mapping, not %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.Errorf(n, path, "internal error: map keys must be strings")
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.MappingPairs(n, path) {
		k, val := kv[0], kv[1]
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, path.Key(k.Value), elem)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}
