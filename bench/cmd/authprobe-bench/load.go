package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// targetBody is what the loopback target answers; small, like a health
// page.
const targetBody = "ok\n"

// serveTarget is the -role=target child: it answers every request with 200
// and a small body on the listener inherited as fd 3, until SIGTERM. With
// failEvery > 0 it answers every failEvery-th request (counted across all
// connections) with 503 instead: failures at an exact, deterministic share.
func serveTarget(failEvery int) error {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fmt.Errorf("inheriting the listener: %w", err)
	}
	var requests atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if failEvery > 0 && requests.Add(1)%int64(failEvery) == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "injected failure\n")
				return
			}
			_, _ = io.WriteString(w, targetBody)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// counts are probes finished and those that succeeded.
type counts struct {
	total, ok atomic.Int64
}

func (c *counts) add(ok bool) {
	c.total.Add(1)
	if ok {
		c.ok.Add(1)
	}
}

// pace calls fn once every period, each call in its own goroutine so a
// slow call never delays the next, until ctx ends; then it waits for the
// calls in flight.
func pace(ctx context.Context, period time.Duration, fn func(context.Context)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(ctx)
			}()
		}
	}
}

// runBare is the -role=bare child: the lower bound. It GETs url once every
// period on a fresh connection (as both probers do for every run), reads
// the body and checks the status; nothing else. Each line read from stdin
// is answered on stdout with "total ok", the probes finished so far; EOF
// on stdin ends it.
func runBare(url string, period, timeout time.Duration) error {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   timeout,
	}
	var c counts
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pace(ctx, period, func(ctx context.Context) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				c.add(false)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				c.add(false)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.add(err == nil && resp.StatusCode == http.StatusOK)
		})
	}()
	// Answer questions until stdin ends or a signal comes, whichever is
	// first; a read from stdin cannot be interrupted, so it has its own
	// goroutine.
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			fmt.Printf("%d %d\n", c.total.Load(), c.ok.Load())
		}
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	stop()
	<-done
	return nil
}

// bareClient asks a -role=bare child for its counts.
type bareClient struct {
	mu  sync.Mutex
	in  *os.File
	out *bufio.Reader
}

func (b *bareClient) counts() (total, ok float64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := io.WriteString(b.in, "?\n"); err != nil {
		return 0, 0, fmt.Errorf("asking the bare loop for its counts: %w", err)
	}
	line, err := b.out.ReadString('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("reading the bare loop's counts: %w", err)
	}
	if _, err := fmt.Sscanf(line, "%g %g", &total, &ok); err != nil {
		return 0, 0, fmt.Errorf("bare loop counts %q: %w", line, err)
	}
	return total, ok, nil
}

// blackboxDriver plays Prometheus for blackbox_exporter: it requests
// /probe at a fixed rate over kept-alive connections so that its own cost,
// and the exporter's cost of accepting connections, stay small.
type blackboxDriver struct {
	client *http.Client
	url    string
	counts counts
}

var probeSuccess = []byte("\nprobe_success 1\n")

func (d *blackboxDriver) probe(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		d.counts.add(false)
		return
	}
	// What Prometheus sends; blackbox_exporter derives its deadline from it.
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			d.counts.add(false)
		}
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d.counts.add(err == nil && resp.StatusCode == http.StatusOK && bytes.Contains(body, probeSuccess))
}
