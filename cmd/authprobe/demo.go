package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/demo"
)

// runDemo starts the demo realm on loopback and runs authprobe against it
// with the built-in config. The realm's credentials are random and reach the
// config the way real ones would, through ${env:...}.
func runDemo(ctx context.Context, s settings) error {
	password, secret := rand.Text(), rand.Text()
	os.Setenv("AUTHPROBE_DEMO_PASSWORD", password)
	os.Setenv("AUTHPROBE_DEMO_CLIENT_SECRET", secret)
	realm, err := demo.New(password, secret)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.v.GetString("demo.listen-address"))
	if err != nil {
		return &exitError{1, fmt.Errorf("the demo realm cannot listen: %v", err)}
	}
	srv := &http.Server{Handler: realm.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	realm.SetIssuer(base)
	var apis []string
	for i := 1; i <= demo.Replicas; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return &exitError{1, fmt.Errorf("the demo API cannot listen: %v", err)}
		}
		api := &http.Server{Handler: realm.APIHandler(i), ReadHeaderTimeout: 10 * time.Second}
		go api.Serve(l)
		defer api.Close()
		apis = append(apis, l.Addr().String())
	}
	// The single-page app's journey needs Chromium; without it the demo
	// runs the rest and says so.
	_, err = os.Stat(s.v.GetString("browser.path"))
	withBrowser := err == nil
	if !withBrowser {
		fmt.Fprintf(os.Stderr, "authprobe demo: %s is missing, so the browser journey is left out (apt-get install chromium)\n", s.v.GetString("browser.path"))
	}
	yaml := demo.Config(base, apis, withBrowser)
	src := source{name: "built-in demo config", load: func() (*config.Config, error) {
		return config.Parse(yaml, "demo.yaml")
	}}
	fmt.Fprintf(os.Stderr, `
authprobe demo: the demo realm runs at %[1]s, its API replicas at %[3]s
  status page     http://localhost%[2]s/
  fault switches  http://localhost%[2]s/demo/
  metrics         http://localhost%[2]s/metrics
Flip a switch (or: curl -X POST localhost%[2]s/demo/fault/key-drift) and watch
the journeys turn red with the reason within one interval (5s).

`, base, port(s.listenAddresses()), strings.Join(apis, " and "))
	return serve(ctx, s, src, map[string]http.Handler{"/demo/": realm.ControlHandler()})
}

func port(addrs []string) string {
	if len(addrs) == 0 {
		return ":9741"
	}
	_, p, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return ":9741"
	}
	return ":" + p
}
