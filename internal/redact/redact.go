// Package redact keeps secrets out of everything authprobe prints: log
// records, run messages, the status page. A secret is replaced wherever it
// appears, also in the forms it takes on the way to and back from a
// target: URL-escaped (an error that quotes a URL with a token in its
// query), base64 (a server that quotes a credential it decoded or
// encoded) and JSON-escaped (an API that echoes the request's fields in
// its error, as validation errors do).
package redact

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Mask is what a secret is replaced with.
const Mask = "<secret>"

// Redactor replaces known secrets in strings. The zero value and nil redact nothing.
type Redactor struct {
	secrets []string // as given, without their other forms
	r       *strings.Replacer
}

// New returns a redactor for the given secrets; empty strings are ignored.
func New(secrets ...string) *Redactor {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return s == "" })
	slices.Sort(secrets)
	secrets = slices.Compact(secrets)
	var all []string
	for _, s := range secrets {
		all = append(all, forms(s)...)
	}
	// Longest first, so a secret containing another is hidden whole;
	// equal strings end up adjacent for Compact.
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b)) })
	all = slices.Compact(all)
	if len(all) == 0 {
		return &Redactor{}
	}
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Mask)
	}
	return &Redactor{secrets: secrets, r: strings.NewReplacer(pairs...)}
}

// forms returns a secret and the forms it is sent or quoted in.
func forms(s string) []string {
	b := []byte(s)
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), (&url.URL{Path: s}).EscapedPath(),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
	// JSON-escaped, by encoders that escape <, > and & (Go's default) and
	// by those that do not.
	for _, escapeHTML := range []bool{true, false} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(escapeHTML)
		if enc.Encode(s) == nil {
			q := strings.TrimSuffix(buf.String(), "\n")
			out = append(out, q[1:len(q)-1])
		}
	}
	return out
}

// With returns a redactor that also hides more. Redactors made by With
// grow with the secrets, not with their forms: a process that reloads its
// config many times keeps one redactor of a bounded size.
func (r *Redactor) With(more ...string) *Redactor {
	if r == nil {
		return New(more...)
	}
	return New(append(slices.Clone(r.secrets), more...)...)
}

// String hides the secrets in s.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Handler wraps h so that every record's message and string attributes are
// redacted before h sees them.
func Handler(h slog.Handler, r func() *Redactor) slog.Handler { return &handler{next: h, r: r} }

type handler struct {
	next slog.Handler
	r    func() *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	r := h.r()
	out := slog.NewRecord(rec.Time, rec.Level, r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(r, a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	r := h.r()
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(r, a)
	}
	return &handler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r}
}

func redactAttr(r *Redactor, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = redactAttr(r, ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.String(err.Error()))
		}
		return slog.String(a.Key, r.String(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
