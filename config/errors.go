package config

import (
	"fmt"
	"strings"

	"github.com/authprobe/authprobe/internal/redact"
)

// FieldError is one problem in a config file: where it is and what to do.
type FieldError struct {
	File string
	Line int
	Path Path
	Msg  string
}

// Error formats the problem the way compilers do: file:line: path: message.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(string(e.Path))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config file. Load reports them all at
// once so that a broken deploy is fixed in one round, not one error at a time.
type Errors []FieldError

// Error lists the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Redact returns the problems with secrets hidden in their messages: a
// check that quotes a value it refuses must not show it when the value came
// from ${env:...} or ${file:...}.
func (es Errors) Redact(secrets []string) Errors {
	r := redact.New(secrets...)
	out := make(Errors, len(es))
	for i, e := range es {
		e.Msg = r.String(e.Msg)
		out[i] = e
	}
	return out
}
