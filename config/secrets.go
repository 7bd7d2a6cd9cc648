package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// References to secrets are resolved once, when the file is loaded: a journey
// that would run without its password is the incident authprobe exists to
// catch, so every unresolved reference is an error and the config is refused.

const maxSecretFile = 64 << 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ref is one ${kind:name} reference, or a $${ escape, found in a string.
type ref struct {
	kind, name string
	start, end int
	value      string
}

// parseRefs finds the references in s in order.
func parseRefs(s string) ([]ref, error) {
	var refs []ref
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		if strings.HasPrefix(s[i:], "$${") {
			refs = append(refs, ref{kind: "literal", start: i, end: i + 3, value: "${"})
			i += 2
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q has an unclosed ${; write $${ for a literal ${", s[i:])
		}
		body := s[i+2 : i+end]
		kind, name, ok := strings.Cut(body, ":")
		switch {
		case !ok || (kind != "env" && kind != "file"):
			return nil, fmt.Errorf("${%s} is not a reference authprobe knows; use ${env:NAME} or ${file:PATH} (write $${ for a literal ${)", body)
		case kind == "env" && !envName.MatchString(name):
			return nil, fmt.Errorf("${env:%s}: %q is not a valid environment variable name", name, name)
		case kind == "file" && name == "":
			return nil, errors.New("${file:} names no file; write ${file:/path/to/secret}")
		}
		refs = append(refs, ref{kind: kind, name: name, start: i, end: i + end + 1})
		i += end
	}
	return refs, nil
}

// secretResolver looks references up and remembers which values are secrets.
type secretResolver struct {
	dir     string // relative ${file:} paths are relative to the config file
	files   map[string]string
	secrets map[string]bool
}

func newSecretResolver(dir string) *secretResolver {
	return &secretResolver{dir: dir, files: map[string]string{}, secrets: map[string]bool{}}
}

func (r *secretResolver) lookup(rf ref) (string, error) {
	switch rf.kind {
	case "literal":
		return rf.value, nil
	case "env":
		v, ok := os.LookupEnv(rf.name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set; set it, or remove ${env:%s}", rf.name, rf.name)
		}
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty; set it to the value, or remove ${env:%s}", rf.name, rf.name)
		}
		return v, nil
	}
	path := rf.name
	if !filepath.IsAbs(path) {
		path = filepath.Join(r.dir, path)
	}
	if v, ok := r.files[path]; ok {
		return v, nil
	}
	v, err := readSecretFile(path)
	if err != nil {
		return "", err
	}
	r.files[path] = v
	return v, nil
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("secret file %s does not exist; create it, or fix the path in ${file:...}", path)
		}
		return "", fmt.Errorf("secret file %s cannot be read: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("secret file %s cannot be read: %v", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("secret file %s is larger than %d KiB; a secret file holds one value", path, maxSecretFile>>10)
	}
	// Files written by `echo` or editors end in a newline that is not part of
	// the secret; Kubernetes secret files usually do not.
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return v, nil
}

func (r *secretResolver) markSecret(v string) { r.secrets[v] = true }

func (r *secretResolver) list() []string {
	out := make([]string, 0, len(r.secrets))
	for v := range r.secrets {
		out = append(out, v)
	}
	return out
}
