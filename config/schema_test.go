package config_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/authprobe/authprobe/config"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := config.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("authprobe.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("authprobe.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func yamlInstance(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// Every example is valid under the schema and under authprobe's own
// loader, the way `authprobe check` runs it.
func TestExamples(t *testing.T) {
	schema := compileSchema(t)
	files, _ := filepath.Glob("../examples/*.yaml")
	nested, _ := filepath.Glob("../examples/*/*.yaml")
	files = append(files, nested...)
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := schema.Validate(yamlInstance(t, f)); err != nil {
				t.Errorf("the schema rejects the example: %v", err)
			}
			b, _ := os.ReadFile(f)
			for _, m := range envRef.FindAllStringSubmatch(string(b), -1) {
				v := "example-value-" + m[1]
				if strings.Contains(m[1], "SEED") {
					v = "JBSWY3DPEHPK3PXP" // TOTP seeds are checked at load
				}
				t.Setenv(m[1], v)
			}
			if _, err := load(f); err != nil {
				t.Errorf("authprobe rejects the example:\n%v", err)
			}
		})
	}
}

// The schema catches what the loader catches for structure: unknown keys,
// wrong types, a step with two kinds.
func TestSchemaRejects(t *testing.T) {
	schema := compileSchema(t)
	for _, f := range []string{"invalid-unknown-field.yaml", "invalid-two-kinds.yaml", "invalid-no-kind.yaml", "invalid-types.yaml", "invalid-status.yaml"} {
		t.Run(f, func(t *testing.T) {
			if err := schema.Validate(yamlInstance(t, filepath.Join("testdata", f))); err == nil {
				t.Error("the schema accepts it")
			}
		})
	}
}
