package demo

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strings"
	"time"
)

// faultsJSON is the control endpoints' answer to scripts.
type faultsJSON struct {
	KeyDrift bool   `json:"key_drift"`
	Login500 bool   `json:"login_500"`
	Latency  string `json:"latency"`
}

var controlTmpl = template.Must(template.New("control").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>authprobe demo · fault switches</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
section { border: 1px solid #ccc; border-radius: .4rem; padding: .2rem 1rem 1rem; margin: 1rem 0; }
.on { color: #b00020; font-weight: bold; } .off { color: #2e7d32; }
form { display: inline; }
</style></head>
<body>
<h1>Demo realm fault switches</h1>
<p>Each switch reproduces a real login incident. Flip one and watch authprobe name its cause.</p>

<section>
<h2>key-drift: <span class="{{if .KeyDrift}}on{{else}}off{{end}}">{{if .KeyDrift}}ON{{else}}off{{end}}</span></h2>
<p>The signing key was rotated on the API's side only: the issuer still signs with its old key, the API rejects every token (unknown kid).</p>
<form method="post" action="/demo/fault/key-drift"><button type="submit">Turn on</button></form>
<form method="post" action="/demo/fault/key-drift"><input type="hidden" name="_method" value="DELETE"><button type="submit">Turn off</button></form>
</section>

<section>
<h2>login-500: <span class="{{if .Login500}}on{{else}}off{{end}}">{{if .Login500}}ON{{else}}off{{end}}</span></h2>
<p>A "config-only" change referenced an environment variable that does not exist: the login pages and the token endpoint answer 500.</p>
<form method="post" action="/demo/fault/login-500"><button type="submit">Turn on</button></form>
<form method="post" action="/demo/fault/login-500"><input type="hidden" name="_method" value="DELETE"><button type="submit">Turn off</button></form>
</section>

<section>
<h2>latency: <span class="{{if .Latency}}on{{else}}off{{end}}">{{if .Latency}}{{.Latency}}{{else}}off{{end}}</span></h2>
<p>A connection pool shrank under load: every request waits before it is served.</p>
<form method="post" action="/demo/fault/latency"><label>Delay <input type="text" name="delay" value="4s" size="6"></label> <button type="submit">Set</button></form>
<form method="post" action="/demo/fault/latency"><input type="hidden" name="_method" value="DELETE"><button type="submit">Turn off</button></form>
</section>

<form method="post" action="/demo/fault/clear"><button type="submit">Clear all faults</button></form>
</body>
</html>
`))

// ControlHandler serves the fault-switch page and endpoints under the prefix "/demo/" (it expects full paths like /demo/ and /demo/fault/key-drift). It is mounted on authprobe's main web server.
func (r *Realm) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "/demo/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /demo/{$}", r.controlPage)
	mux.HandleFunc("POST /demo/fault/{name}", r.switchFault)
	mux.HandleFunc("DELETE /demo/fault/{name}", r.switchFault)
	// The page lives on authprobe's own server next to the status page; a
	// form on another site must not be able to break the demo from a
	// visitor's browser.
	return http.NewCrossOriginProtection().Handler(mux)
}

func (r *Realm) controlPage(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	if err := controlTmpl.Execute(&buf, r.Faults()); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}

// switchFault turns a switch on with POST and off with DELETE; HTML forms,
// which cannot send DELETE, say so with a _method field.
func (r *Realm) switchFault(w http.ResponseWriter, req *http.Request) {
	req.Body = http.MaxBytesReader(w, req.Body, maxFormBytes)
	if err := req.ParseMultipartForm(maxFormBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		r.controlError(w, req, "invalid form")
		return
	}
	on := req.Method == http.MethodPost && !strings.EqualFold(req.PostForm.Get("_method"), http.MethodDelete)

	name := req.PathValue("name")
	f := r.Faults()
	switch name {
	case "key-drift":
		f.KeyDrift = on
	case "login-500":
		f.Login500 = on
	case "latency":
		f.Latency = 0
		if on {
			d, err := parseDelay(req.Form.Get("delay"))
			if err != nil {
				r.controlError(w, req, err.Error())
				return
			}
			f.Latency = d
		}
	case "clear":
		f = Faults{}
	default:
		http.Error(w, fmt.Sprintf("unknown fault %q: want key-drift, login-500, latency or clear", name), http.StatusNotFound)
		return
	}
	// Read-modify-write of different switches can race between two
	// operators; the last click wins, which is what a person expects.
	r.SetFaults(f)

	if wantsJSON(req) {
		r.writeFaults(w)
		return
	}
	http.Redirect(w, req, "/demo/", http.StatusSeeOther)
}

func parseDelay(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("delay is required, e.g. delay=4s (between 0s and %s)", maxLatency)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxLatency {
		return 0, fmt.Errorf("invalid delay %q: want a duration between 0s and %s, e.g. 4s", s, maxLatency)
	}
	return d, nil
}

func (r *Realm) writeFaults(w http.ResponseWriter) {
	f := r.Faults()
	writeJSON(w, http.StatusOK, faultsJSON{KeyDrift: f.KeyDrift, Login500: f.Login500, Latency: f.Latency.String()})
}

func (r *Realm) controlError(w http.ResponseWriter, req *http.Request, msg string) {
	if wantsJSON(req) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
		return
	}
	http.Error(w, msg, http.StatusBadRequest)
}

// wantsJSON tells scripts (curl, tests) from the page's own forms: only a
// browser form post without an explicit JSON Accept gets the redirect back.
func wantsJSON(req *http.Request) bool {
	for part := range strings.SplitSeq(req.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil {
		return true
	}
	return mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data"
}
