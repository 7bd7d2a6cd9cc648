package exporter

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authprobe/authprobe/config"
)

// Options configures the web handler.
type Options struct {
	Recorder *Recorder
	// Reload reloads the config; nil disables POST /-/reload.
	Reload func() error
	// Ready reports whether a config is loaded and journeys are scheduled.
	Ready func() bool
	// Version is shown on the status page.
	Version string
	// ConfigFile is shown on the status page.
	ConfigFile string
	// Mounts are extra handlers by path prefix, such as the demo's switches.
	Mounts map[string]http.Handler
	Logger *slog.Logger
}

//go:embed status.html
var assets embed.FS

var statusTmpl = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"ago":      ago,
	"seconds":  func(d time.Duration) string { return formatSeconds(d.Seconds()) },
	"secondsf": formatSeconds,
	"pct": func(r float64) string {
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", r*100), "0"), ".") + "%"
	},
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"in":    in,
}).ParseFS(assets, "status.html"))

// Handler returns the web surface: /metrics, the status page at /,
// /api/v1/journeys, /api/v1/artifacts, /-/healthy, /-/ready and POST
// /-/reload, every response with headers that keep browsers from running
// or framing anything (see secureHeaders).
func Handler(o Options) http.Handler {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(o.Recorder, logger))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "authprobe is healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if o.Ready != nil && !o.Ready() {
			http.Error(w, "authprobe is not ready: no config loaded yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "authprobe is ready.")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if o.Reload == nil {
			http.Error(w, "reloading over HTTP is disabled (--web.disable-reload); send authprobe SIGHUP or change the config file to reload it.", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the config.", http.StatusMethodNotAllowed)
			return
		}
		if err := o.Reload(); err != nil {
			status := http.StatusInternalServerError
			var ce config.Errors
			if errors.As(err, &ce) {
				status = http.StatusBadRequest
			}
			http.Error(w, "config not reloaded; the previous config keeps running:\n"+err.Error(), status)
			return
		}
		fmt.Fprintln(w, "config reloaded.")
	})
	mux.HandleFunc("GET /api/v1/journeys", func(w http.ResponseWriter, _ *http.Request) {
		resp := apiResponse{Location: o.Recorder.Location(), Reload: o.Recorder.Reload(), Series: o.Recorder.Snapshot()}
		if sh := o.Recorder.Shard(); sh.Split() {
			resp.Shard = sh.String()
		}
		writeJSON(w, resp)
	})
	mux.HandleFunc("GET /api/v1/artifacts", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, o.Recorder.Artifacts())
	})
	mux.HandleFunc("GET /api/v1/artifacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		if a, ok := artifact(w, r, o.Recorder); ok {
			writeJSON(w, a)
		}
	})
	mux.HandleFunc("GET /api/v1/artifacts/{id}/screenshot.png", func(w http.ResponseWriter, r *http.Request) {
		a, ok := artifact(w, r, o.Recorder)
		if !ok {
			return
		}
		if len(a.Screenshot) == 0 {
			http.Error(w, "this artifact has no screenshot.", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(a.Screenshot)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Its only active content is its own inline style: no script, no
		// other origin, no form, no frame, whatever a target's message
		// slipped past the template's escaping.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		page := statusPage{
			Version: o.Version, ConfigFile: o.ConfigFile, Location: o.Recorder.Location(),
			Shard: o.Recorder.Shard(), Reload: o.Recorder.Reload(), Now: time.Now(), Mounts: o.Mounts,
		}
		page.group(o.Recorder.Snapshot())
		if err := statusTmpl.Execute(w, page); err != nil {
			logger.Error("rendering the status page", "err", err)
		}
	})
	for prefix, h := range o.Mounts {
		mux.Handle(prefix, h)
	}
	return secureHeaders(mux)
}

// secureHeaders sets what keeps a browser from making more of a response
// than it is: nothing is sniffed into HTML (a JSON answer quoting a
// target's <script> stays JSON), nothing runs or loads, and nothing is
// framed. Handlers that serve a page set its own Content-Security-Policy.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func artifact(w http.ResponseWriter, r *http.Request, rec *Recorder) (*StoredArtifact, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "artifact ids are numbers.", http.StatusBadRequest)
		return nil, false
	}
	a, ok := rec.Artifact(id)
	if !ok {
		http.Error(w, "no such artifact; only the last few per series are kept.", http.StatusNotFound)
	}
	return a, ok
}

type apiResponse struct {
	Location string `json:"location"`
	// Shard is "I/N" when this process runs one shard of its config; the
	// series are then that shard's only.
	Shard  string         `json:"shard,omitempty"`
	Reload ReloadStatus   `json:"reload"`
	Series []SeriesStatus `json:"series"`
}

type statusPage struct {
	Version, ConfigFile, Location string
	Shard                         config.Shard
	Reload                        ReloadStatus
	Now                           time.Time
	Mounts                        map[string]http.Handler
	Journeys                      []journeyGroup
	Counts                        map[string]int
}

type journeyGroup struct {
	Name   string
	Series []SeriesStatus
}

func (p *statusPage) group(series []SeriesStatus) {
	p.Counts = map[string]int{"ok": 0, "failing": 0, "error": 0, "pending": 0, "backoff": 0}
	for _, s := range series {
		p.Counts[s.State]++
		if s.Backoff != nil {
			p.Counts["backoff"]++
		}
		if n := len(p.Journeys); n == 0 || p.Journeys[n-1].Name != s.Journey {
			p.Journeys = append(p.Journeys, journeyGroup{Name: s.Journey})
		}
		g := &p.Journeys[len(p.Journeys)-1]
		g.Series = append(g.Series, s)
	}
}

// in says how long until t, as ago says how long since.
func in(t time.Time) string {
	d := time.Until(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("in %ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes()))
	}
	return fmt.Sprintf("in %dh", int(d.Hours()))
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func formatSeconds(s float64) string {
	switch {
	case s < 0.01:
		return fmt.Sprintf("%.1fms", s*1000)
	case s < 1:
		return fmt.Sprintf("%.0fms", s*1000)
	case s < 10:
		return fmt.Sprintf("%.2fs", s)
	}
	return fmt.Sprintf("%.1fs", s)
}
