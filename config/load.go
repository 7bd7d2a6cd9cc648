package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the config file at path. On any problem
// it returns Errors listing all of them, and no config: nothing runs on a
// config that is partly wrong.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read the config file: %v", errors.Unwrap(err))}}
	}
	return Parse(data, path)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes and validates a config held in memory; file names it in
// errors and anchors relative ${file:...} paths.
func Parse(data []byte, file string) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Msg: "the config file is empty; it needs at least a journeys list"}}
		}
		fe := FieldError{File: file, Msg: err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			fe.Msg = "YAML syntax error: " + m[2]
		} else if msg, ok := strings.CutPrefix(err.Error(), "yaml: "); ok {
			fe.Line, fe.Msg = yamlErrorLine(data), "YAML syntax error: "+msg
		}
		return nil, Errors{fe}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: file, Line: extra.Line, Msg: "the file holds more than one YAML document (---); put everything in one"}}
	}

	if fe := checkAliases(&root, file); fe != nil {
		return nil, Errors{*fe}
	}

	secrets := newSecretResolver(filepath.Dir(file))
	d := newDecoder(file, secrets)
	cfg := defaultConfig()
	top := resolveNode(&root)
	d.Decode(top, "", &cfg)
	nodes := journeyNodes(top)
	if len(d.errs) == 0 {
		cfg.applyDefaults(d, nodes)
	}
	cfg.check(d, top)
	if len(d.errs) > 0 {
		// In file order, as an editor would walk them.
		slices.SortStableFunc(d.errs, func(a, b FieldError) int { return cmp.Compare(a.Line, b.Line) })
		return nil, d.errs.Redact(secrets.list())
	}
	cfg.File = file
	cfg.Secrets = secrets.list()
	cfg.fingerprint(d, nodes)
	return &cfg, nil
}

// journeyNodes returns the nodes of the journeys list, for fingerprints.
func journeyNodes(top *yaml.Node) []*yaml.Node {
	if top == nil || top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "journeys" {
			if l := resolveNode(top.Content[i+1]); l.Kind == yaml.SequenceNode {
				return l.Content
			}
		}
	}
	return nil
}
