package config

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.yaml.in/yaml/v3"
)

// Template is a string field that may use run-time variables ({{ .csrf }})
// and helpers ({{ tamper .access_token }}). Values of ${env:...} and
// ${file:...} references inside it are secrets: they are kept out of
// everything authprobe prints.
type Template struct {
	raw  string // as written, references unresolved: safe to show
	text string // the resolved value when there is nothing to execute
	tmpl *template.Template
	vars []string
}

// TemplateFuncs are the helpers templates may call besides text/template's
// built-ins (urlquery, printf, len, index, ...).
var TemplateFuncs = template.FuncMap{
	"tamper": Tamper,
	"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b64url": func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
	"b64dec": b64dec,
	"sha256": func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	// s256 is the PKCE S256 code challenge of a verifier (RFC 7636).
	"s256": func(s string) string {
		h := sha256.Sum256([]byte(s))
		return base64.RawURLEncoding.EncodeToString(h[:])
	},
	"randhex":   randhex,
	"uuid":      uuid,
	"unix":      func() int64 { return time.Now().Unix() },
	"now":       func() string { return time.Now().UTC().Format(time.RFC3339) },
	"lower":     strings.ToLower,
	"upper":     strings.ToUpper,
	"trim":      strings.TrimSpace,
	"jsonquote": strconv.Quote,
	"totp":      TOTP,
}

// TOTP returns the current RFC 6238 code for a base32 seed or an
// otpauth://totp/ URI (which may set digits, period and algorithm).
func TOTP(seed string) (string, error) {
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	secret := seed
	if strings.HasPrefix(seed, "otpauth://") {
		key, err := otp.NewKeyFromURL(seed)
		if err != nil || key.Type() != "totp" {
			return "", errors.New("totp: the otpauth URI is not a totp key")
		}
		secret = key.Secret()
		opts.Period = uint(key.Period())
		opts.Digits = key.Digits()
		opts.Algorithm = key.Algorithm()
	}
	secret = strings.ToUpper(strings.ReplaceAll(secret, " ", ""))
	switch {
	case secret == "":
		return "", errors.New("totp: the seed is empty")
	case opts.Period == 0:
		return "", errors.New("totp: the period is 0")
	case opts.Digits != otp.DigitsSix && opts.Digits != otp.DigitsEight:
		return "", errors.New("totp: codes have 6 or 8 digits")
	}
	code, err := totp.GenerateCodeCustom(secret, time.Now(), opts)
	if err != nil {
		return "", errors.New("totp: the seed is not base32")
	}
	return code, nil
}

// Tamper returns a copy of a token that must no longer verify: for a JWT one
// character in the middle of its signature changes (the last character may
// only carry padding bits), for anything else the middle character does.
func Tamper(token string) string {
	start := strings.LastIndexByte(token, '.') + 1
	if start >= len(token) {
		start = 0
	}
	if len(token) == 0 {
		return "tampered"
	}
	i := start + (len(token)-start)/2
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

func b64dec(s string) (string, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), nil
		}
	}
	return "", errors.New("b64dec: input is not base64")
}

func randhex(n int) (string, error) {
	if n < 1 || n > 256 {
		return "", fmt.Errorf("randhex: length %d is outside 1..256", n)
	}
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n], nil
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ParseTemplate parses s, which must not contain ${...} references; it is
// for templates written in code, such as a demo's or a test's.
func ParseTemplate(s string) (Template, error) {
	t := Template{raw: s, text: s}
	if !strings.Contains(s, "{{") {
		return t, nil
	}
	if err := t.parse(s); err != nil {
		return Template{}, err
	}
	return t, nil
}

// UnmarshalConfig decodes a template from a scalar, resolving references.
func (t *Template) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, path, "must be a string, not %s", describe(n))
		return
	}
	raw := n.Value
	if !strings.Contains(raw, "{{") {
		text, _, ok := d.resolve(n, path, raw, true)
		if ok {
			*t = Template{raw: raw, text: text}
		}
		return
	}
	refs, err := parseRefs(raw)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	// A reference inside an action must be a whole string argument, as in
	// {{ totp "${env:SEED}" }}: it becomes that string. Anywhere else in an
	// action it would have to become code, which a value never may.
	actions := actionSpans(raw)
	inAction := make([]bool, len(refs))
	for i, r := range refs {
		for _, a := range actions {
			if r.start > a[0] && r.start < a[1] {
				if raw[r.start-1] != '"' || r.end >= len(raw) || raw[r.end] != '"' {
					d.Errorf(n, path, `${%s:%s} is inside {{ }} but not a whole quoted argument; write {{ f "${%[1]s:%[2]s}" }}, or set it in vars`, r.kind, r.name)
					return
				}
				inAction[i] = true
			}
		}
	}
	// Resolved values enter the template as quoted string literals so that a
	// secret containing "{{" stays a value and never becomes template code.
	var src strings.Builder
	var values []string
	last, ok := 0, true
	for i, r := range refs {
		v, err := d.secrets.lookup(r)
		if err != nil {
			d.Errorf(n, path, "%v", err)
			ok = false
			continue
		}
		values = append(values, v)
		if r.kind != "literal" {
			d.deps = append(d.deps, dep{path, v})
			if d.public == 0 {
				d.secrets.markSecret(v)
			}
		}
		if inAction[i] {
			src.WriteString(raw[last : r.start-1])
			src.WriteString(strconv.Quote(v))
			last = r.end + 1
			continue
		}
		src.WriteString(raw[last:r.start])
		src.WriteString("{{" + strconv.Quote(v) + "}}")
		last = r.end
	}
	if !ok {
		return
	}
	src.WriteString(raw[last:])
	*t = Template{raw: raw}
	if err := t.parse(src.String()); err != nil {
		msg := err.Error()
		for _, v := range values {
			if v != "${" {
				msg = strings.ReplaceAll(msg, v, "<secret>")
			}
		}
		d.Errorf(n, path, "is not a valid template: %s", msg)
	}
}

func (t *Template) parse(src string) error {
	tmpl, err := template.New("").Funcs(TemplateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		// "template: :1: unclosed action" → "unclosed action"
		msg := strings.TrimPrefix(err.Error(), "template: :")
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return errors.New(msg)
	}
	t.tmpl = tmpl
	t.vars = templateVars(tmpl.Tree.Root)
	return checkLiteralCalls(tmpl.Tree.Root)
}

// checkLiteralCalls runs helpers whose argument is a constant, such as
// {{ totp "${env:SEED}" }}, once at load, so that an empty or malformed
// seed is a config error and not a failure of every run.
func checkLiteralCalls(root parse.Node) error {
	var err error
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			if len(n.Args) == 2 {
				id, ok1 := n.Args[0].(*parse.IdentifierNode)
				lit, ok2 := n.Args[1].(*parse.StringNode)
				if ok1 && ok2 && id.Ident == "totp" && err == nil {
					_, err = TOTP(lit.Text)
				}
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(root)
	return err
}

// actionSpans returns the [start, end) byte ranges of the {{ }} actions in s.
func actionSpans(s string) [][2]int {
	var spans [][2]int
	for i := 0; ; {
		open := strings.Index(s[i:], "{{")
		if open < 0 {
			return spans
		}
		open += i
		end := strings.Index(s[open:], "}}")
		if end < 0 {
			return append(spans, [2]int{open, len(s)})
		}
		spans = append(spans, [2]int{open, open + end + 2})
		i = open + end + 2
	}
}

// templateVars lists the top-level variables ({{ .name }}) a template reads.
func templateVars(root parse.Node) []string {
	var vars []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if !slices.Contains(vars, n.Ident[0]) {
				vars = append(vars, n.Ident[0])
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(root)
	return vars
}

// Vars lists the run-time variables the template reads.
func (t Template) Vars() []string { return t.vars }

// IsZero reports whether the field was left out.
func (t Template) IsZero() bool { return t.raw == "" && t.tmpl == nil }

// IsStatic reports whether the template has nothing to execute at run time.
func (t Template) IsStatic() bool { return t.tmpl == nil }

// Static returns the resolved value of a template with nothing to execute.
// It may hold secrets: never show it, show String.
func (t Template) Static() (string, bool) { return t.text, t.tmpl == nil }

// String returns the template as written, with references unresolved, so it
// can be shown without revealing secrets.
func (t Template) String() string { return t.raw }

// Execute renders the template with the run's variables.
func (t Template) Execute(vars map[string]string) (string, error) {
	if t.tmpl == nil {
		return t.text, nil
	}
	for _, v := range t.vars {
		if _, ok := vars[v]; !ok {
			return "", fmt.Errorf("variable %q is not set", v)
		}
	}
	var b strings.Builder
	if err := t.tmpl.Execute(&b, vars); err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), "template: :"))
	}
	return b.String(), nil
}
