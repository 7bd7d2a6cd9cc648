package hostile

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authprobe/authprobe/probes"
)

// get is a journey of one GET with a 1s timeout.
func get(url, extra string) string {
	return fmt.Sprintf(`
journeys:
  - name: hostile
    timeout: 1s
    steps:
      - name: get
        http: { url: %q%s }
`, url, extra)
}

// timeout sets the timeout of a journey made by get.
func timeout(yaml, d string) string { return strings.Replace(yaml, "timeout: 1s", "timeout: "+d, 1) }

// Targets that are slow on purpose: the run's deadline ends each of them.
func TestSlowTargets(t *testing.T) {
	noLeaks(t)
	env := testEnv()

	// The response head never comes.
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)

	// The response head comes one byte every 50ms, forever.
	trickle := startRaw(t, func(c net.Conn, done <-chan struct{}) {
		if readRequest(c) != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Slow: "); err != nil {
			return
		}
		for sleep(50*time.Millisecond, done) {
			if _, err := c.Write([]byte("a")); err != nil {
				return
			}
		}
	})

	// The body comes one byte a second.
	drip := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}
	}))
	t.Cleanup(drip.Close)

	// The TLS handshake starts and never finishes: the server reads the
	// ClientHello and says nothing.
	stall := startRaw(t, func(c net.Conn, done <-chan struct{}) { drain(c) })

	runCases(t, env, []hostileCase{
		{name: "slow headers (never sent)", reason: probes.ReasonTimeout, yaml: get(silent.URL, "")},
		{name: "headers trickling a byte every 50ms", reason: probes.ReasonTimeout, yaml: get("http://"+trickle.Addr()+"/", "")},
		{name: "body dripping one byte a second", reason: probes.ReasonTimeout, yaml: get(drip.URL, "")},
		{name: "TLS handshake that stalls", reason: probes.ReasonTimeout, yaml: get("https://app.test:"+stall.Port()+"/", "")},
	})
}

// Targets that send more than anyone should read.
func TestHugeResponses(t *testing.T) {
	noLeaks(t)
	env := testEnv()
	const gib = 1 << 30
	chunk := bytes.Repeat([]byte("x"), 64<<10)

	// 1 GiB, declared and generated from one 64 KiB buffer, never held.
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(gib))
		for sent := 0; sent < gib; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil || r.Context().Err() != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)

	// A gzip bomb: 1 MiB of zeros compresses to about 1 KiB, and a gzip
	// stream may be many such members one after another, so 1 GiB takes
	// about 1 MiB on the wire.
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	bomb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/html")
		for range gib >> 20 {
			if _, err := w.Write(member.Bytes()); err != nil || r.Context().Err() != nil {
				return
			}
		}
	}))
	t.Cleanup(bomb.Close)

	// Response headers that never end.
	headers := startRaw(t, func(c net.Conn, done <-chan struct{}) {
		if readRequest(c) != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\n"); err != nil {
			return
		}
		line := []byte("X-Pad: " + strings.Repeat("a", 4000) + "\r\n")
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})

	runCases(t, env, []hostileCase{
		{name: "1 GiB body", reason: probes.ReasonBodyTooLarge, yaml: get(huge.URL, ""), alloc: 64 << 20, msg: "larger than 2MiB"},
		{name: "gzip bomb (1 GiB of zeros)", reason: probes.ReasonBodyTooLarge, yaml: get(bomb.URL, ""), alloc: 64 << 20},
		{name: "response headers that never end", reason: probes.ReasonBodyTooLarge, yaml: get("http://"+headers.Addr()+"/", "")},
	})
}

// Redirects in circles, to other schemes and to other hosts.
func TestHostileRedirects(t *testing.T) {
	noLeaks(t)
	env := testEnv()

	// The FTP server a redirect points at must never be dialed.
	ftp := startRaw(t, func(c net.Conn, done <-chan struct{}) {})

	var elsewhereAuth, elsewhereCookie atomic.Value
	elsewhereAuth.Store("")
	elsewhereCookie.Store("")
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereAuth.Store(r.Header.Get("Authorization"))
		elsewhereCookie.Store(r.Header.Get("Cookie"))
		fmt.Fprint(w, "elsewhere")
	}))
	t.Cleanup(elsewhere.Close)
	_, elsewherePort, _ := net.SplitHostPort(elsewhere.Listener.Addr().String())

	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/a", http.StatusFound) })
	to := func(loc string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3ssion", Path: "/"})
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusFound)
		}
	}
	mux.Handle("/file", to("file:///etc/passwd"))
	mux.Handle("/javascript", to("javascript:alert(document.cookie)"))
	mux.Handle("/ftp", to("ftp://"+ftp.Addr()+"/pub"))
	mux.Handle("/data", to("data:text/html,<h1>hi</h1>"))
	mux.Handle("/elsewhere", to("http://elsewhere.test:"+elsewherePort+"/landing"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "http://app.test:" + port
	// The token is a run-time variable, as an obtained token is.
	elsewhereJourney := fmt.Sprintf(`
journeys:
  - name: hostile
    timeout: 1s
    vars: { tok: t0ken }
    steps:
      - name: get
        http: { url: "%s/elsewhere", redirects: follow, headers: { Authorization: "Bearer {{ .tok }}" } }
        expect: { body_contains: elsewhere }
`, base)

	runCases(t, env, []hostileCase{
		{name: "redirect loop", reason: probes.ReasonRedirectLoop, yaml: get(base+"/a", ", redirects: follow")},
		{name: "redirect to file:", reason: probes.ReasonRedirectLoop, yaml: get(base+"/file", ", redirects: follow"), msg: "file:"},
		{name: "redirect to javascript:", reason: probes.ReasonRedirectLoop, yaml: get(base+"/javascript", ", redirects: follow"), msg: "javascript:"},
		{name: "redirect to data:", reason: probes.ReasonRedirectLoop, yaml: get(base+"/data", ", redirects: follow"), msg: "data:"},
		{name: "redirect to ftp:", reason: probes.ReasonRedirectLoop, yaml: get(base+"/ftp", ", redirects: follow"), msg: "ftp:",
			check: func(t *testing.T, _ probes.Result) {
				if n := ftp.Accepted(); n != 0 {
					t.Errorf("the FTP server was dialed %d times", n)
				}
			}},
		{name: "redirect to another host", reason: "", yaml: elsewhereJourney,
			check: func(t *testing.T, _ probes.Result) {
				if a := elsewhereAuth.Load().(string); a != "" {
					t.Errorf("the Authorization header followed the redirect to another host: %q", a)
				}
				if c := elsewhereCookie.Load().(string); c != "" {
					t.Errorf("the first host's cookie followed the redirect to another host: %q", c)
				}
			}},
	})
}

// Certificates that must not be trusted, connections that break, and
// names that do not resolve.
func TestNetworkFaults(t *testing.T) {
	noLeaks(t)
	env := testEnv()
	ca := newCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	serve := func(cert tls.Certificate) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		return "https://app.test:" + port + "/"
	}
	good := serve(ca.leaf(t, "app.test", now.Add(-time.Hour), now.Add(time.Hour), false))
	expired := serve(ca.leaf(t, "app.test", now.Add(-48*time.Hour), now.Add(-24*time.Hour), false))
	wrongHost := serve(ca.leaf(t, "elsewhere.example", now.Add(-time.Hour), now.Add(time.Hour), false))
	selfSigned := serve(ca.leaf(t, "app.test", now.Add(-time.Hour), now.Add(time.Hour), true))

	// Plain text where TLS is expected.
	plain := startRaw(t, func(c net.Conn, done <-chan struct{}) {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		drain(c)
	})

	// The connection breaks after 1000 of 1 MiB: reset, or closed.
	breaking := func(reset bool) *rawServer {
		return startRaw(t, func(c net.Conn, done <-chan struct{}) {
			if readRequest(c) != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("x", 1000))
			if !sleep(50*time.Millisecond, done) {
				return
			}
			if reset {
				c.(*net.TCPConn).SetLinger(0) // Close sends RST
			}
		})
	}
	reset, closed := breaking(true), breaking(false)

	tlsOpt := fmt.Sprintf(", tls: { ca_file: %q }", caFile)
	runCases(t, env, []hostileCase{
		{name: "trusted certificate (control)", reason: "", yaml: get(good, tlsOpt)},
		{name: "expired certificate", reason: probes.ReasonTLS, yaml: get(expired, tlsOpt), msg: "expired"},
		{name: "certificate for another host", reason: probes.ReasonTLS, yaml: get(wrongHost, tlsOpt), msg: "elsewhere.example"},
		{name: "self-signed certificate", reason: probes.ReasonTLS, yaml: get(selfSigned, tlsOpt), msg: "unknown authority"},
		{name: "plain HTTP on the TLS port", reason: probes.ReasonTLS, yaml: get("https://app.test:"+plain.Port()+"/", tlsOpt)},
		{name: "connection reset mid-body", reason: probes.ReasonConnect, yaml: get("http://"+reset.Addr()+"/", "")},
		{name: "connection closed mid-body", reason: probes.ReasonConnect, yaml: get("http://"+closed.Addr()+"/", "")},
		{name: "NXDOMAIN", reason: probes.ReasonDNS, yaml: get("http://nope.test/", "")},
		{name: "SERVFAIL", reason: probes.ReasonDNS, yaml: get("http://login.servfail/", "")},
	})
}

// Pages built to make extraction expensive.
func TestHostilePages(t *testing.T) {
	noLeaks(t)
	env := testEnv()

	// A login page with 100,000 forms; the CSRF field is in the last one.
	var forms bytes.Buffer
	forms.WriteString("<!doctype html><html><body>")
	for i := range 100_000 {
		name := "decoy"
		if i == 99_999 {
			name = "csrf"
		}
		fmt.Fprintf(&forms, `<form action="/f%d" method="post"><input type="hidden" name="%s" value="v%d"></form>`, i, name, i)
	}
	forms.WriteString("</body></html>")
	// HTML nested 100,000 elements deep.
	deep := strings.Repeat("<div>", 100_000) + `<input name="csrf" value="deep">`
	// JSON nested 1,000,000 arrays deep.
	jsonBomb := `{"token":` + strings.Repeat("[", 1_000_000)

	pages := map[string][]byte{"/forms": forms.Bytes(), "/deep": []byte(deep), "/json": []byte(jsonBomb)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json" {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/html")
		}
		w.Write(pages[r.URL.Path])
	}))
	t.Cleanup(srv.Close)
	t.Logf("the forms page is %s", mib(uint64(forms.Len())))

	extract := func(path, max, ex string) string {
		return get(srv.URL+path, max) + "        extract: { v: " + ex + " }\n"
	}
	runCases(t, env, []hostileCase{
		{name: "100,000 forms, form_field", reason: probes.ReasonBodyTooLarge, yaml: extract("/forms", "", "{ form_field: csrf }")},
		// With the cap raised, the page is parsed: memory grows with the
		// cap, about 10 times the page.
		{name: "100,000 forms in 16MiB, form_field", reason: "", heap: 256 << 20,
			yaml: timeout(extract("/forms", ", max_body_bytes: 16MiB", "{ form_field: csrf }"), "5s")},
		{name: "100,000 forms in 16MiB, css", reason: "", heap: 256 << 20,
			yaml: timeout(extract("/forms", ", max_body_bytes: 16MiB", `{ css: "form:last-of-type input", attr: value }`), "5s")},
		// Parsing takes longer than the run has; the deadline stops it.
		{name: "100,000 forms in 16MiB, 50ms timeout", reason: probes.ReasonTimeout, heap: 256 << 20, raceSlack: 200 * time.Millisecond,
			yaml: timeout(extract("/forms", ", max_body_bytes: 16MiB", `{ css: "form:last-of-type input", attr: value }`), "50ms")},
		{name: "HTML nested 100,000 deep, css", reason: probes.ReasonExtract, yaml: extract("/deep", "", `{ css: "input", attr: value }`)},
		{name: "JSON nested 1,000,000 deep, json", reason: probes.ReasonExtract, yaml: extract("/json", "", `{ json: "$.token" }`)},
	})
}

// ca is a certificate authority for the TLS cases.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hostile test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf issues a server certificate for host, valid from notBefore to
// notAfter, signed by the CA or by itself.
func (c *ca) leaf(t *testing.T, host string, notBefore, notAfter time.Time, selfSigned bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := c.cert, c.key
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
