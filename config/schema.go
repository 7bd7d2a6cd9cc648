package config

import (
	"encoding/json"
	"reflect"
)

// The JSON Schema is generated from the same Go types the decoder fills, so
// the two cannot disagree about which keys exist. Editors use it to complete
// and check configs (yaml-language-server: $schema=...).

// SchemaTyper is implemented by config types whose schema reflection cannot
// see, because they accept more than one form.
type SchemaTyper interface {
	JSONSchema() map[string]any
}

// refPattern matches a value given as a ${env:...} or ${file:...} reference,
// which any scalar may be.
const refPattern = `^\$\{(env|file):[^}]+\}$`

// OrReference allows a ${env:...} or ${file:...} string where a non-string
// scalar is expected.
func OrReference(s map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "string", "pattern": refPattern}}}
}

// JSONSchema returns the schema of the config file, kinds included.
func JSONSchema() ([]byte, error) {
	s := schemaOf(reflect.TypeFor[Config]())
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/authprobe/authprobe/config/authprobe.schema.json"
	s["title"] = "authprobe configuration"
	s["patternProperties"] = map[string]any{"^x-": map[string]any{}}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

var schemaTyperType = reflect.TypeFor[SchemaTyper]()

func schemaOf(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return schemaOf(t.Elem())
	}
	if t == reflect.TypeFor[Config]() {
		return structSchema(t)
	}
	if t.Implements(schemaTyperType) {
		return reflect.Zero(t).Interface().(SchemaTyper).JSONSchema()
	}
	if reflect.PointerTo(t).Implements(schemaTyperType) {
		return reflect.New(t).Interface().(SchemaTyper).JSONSchema()
	}
	switch t.Kind() {
	case reflect.Struct:
		return structSchema(t)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return OrReference(map[string]any{"type": "boolean"})
	case reflect.Int, reflect.Int32, reflect.Int64:
		return OrReference(map[string]any{"type": "integer"})
	case reflect.Float64:
		return OrReference(map[string]any{"type": "number"})
	}
	return map[string]any{}
}

func structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fields(t) {
		sf := t.FieldByIndex(f.index)
		p := schemaOf(sf.Type)
		if doc := sf.Tag.Get("doc"); doc != "" {
			p = withDescription(p, doc)
		}
		props[f.name] = p
		if f.required {
			required = append(required, f.name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func withDescription(s map[string]any, doc string) map[string]any {
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	out["description"] = doc
	return out
}

// JSONSchema of a step: its fixed fields plus exactly one kind.
func (Step) JSONSchema() map[string]any {
	s := structSchema(reflect.TypeFor[Step]())
	props := s["properties"].(map[string]any)
	var oneOf []any
	for _, k := range StepKinds() {
		ks := schemaOf(reflect.TypeOf(k.NewSpec()))
		if k.Doc != "" {
			ks = withDescription(ks, k.Doc)
		}
		props[k.Name] = ks
		oneOf = append(oneOf, map[string]any{"required": []string{k.Name}})
	}
	s["oneOf"] = oneOf
	return s
}

// JSONSchema of a duration.
func (Duration) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": `^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+$|` + refPattern[1:], "examples": []string{"30s", "1m30s"}}
}

// JSONSchema of a regular expression.
func (Regexp) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "format": "regex"}
}

// JSONSchema of a string or a list of strings.
func (StringList) JSONSchema() map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{"anyOf": []any{str, map[string]any{"type": "array", "items": str}}}
}

// JSONSchema of a status set.
func (StatusSet) JSONSchema() map[string]any {
	one := map[string]any{"anyOf": []any{
		map[string]any{"type": "integer", "minimum": 100, "maximum": 599},
		map[string]any{"type": "string", "pattern": `^[1-5]([0-9][0-9]|[xX][xX])$`},
	}}
	return map[string]any{"anyOf": []any{one, map[string]any{"type": "array", "items": one}}}
}

// JSONSchema of a size.
func (ByteSize) JSONSchema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "integer", "minimum": 0},
		map[string]any{"type": "string", "pattern": `^[0-9]+ *(B|KB|MB|GB|KiB|MiB|GiB)?$`},
	}}
}

// JSONSchema of a template.
func (Template) JSONSchema() map[string]any { return map[string]any{"type": "string"} }

// JSONSchema of a JSONPath.
func (JSONPath) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "examples": []string{"$.access_token"}}
}

// JSONSchema of a CSS selector.
func (CSS) JSONSchema() map[string]any { return map[string]any{"type": "string"} }

// JSONSchema of JSON assertions.
func (JSONExpect) JSONSchema() map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "number", "boolean", "null"}}}
}
