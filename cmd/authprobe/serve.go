package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/internal/browser"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/browserstep"
)

// source produces a validated config; it is called at start and on every reload.
type source struct {
	name string // shown on the status page
	file string // watched for changes; "" for built-in configs
	load func() (*config.Config, error)
}

func fileSource(path string) source {
	return source{name: path, file: path, load: func() (*config.Config, error) { return config.Load(path) }}
}

// app owns the running config: it builds a new one fully and swaps it in
// only when it is valid, so a bad file never stops probing.
type app struct {
	src source
	// shard is --shard; nil leaves it to the config's global.shard.
	shard  *config.Shard
	env    *probes.Env
	sched  *probes.Scheduler
	rec    *exporter.Recorder
	logger *slog.Logger

	mu    sync.Mutex // one reload at a time
	ready atomic.Bool
}

func (a *app) reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, err := a.src.load()
	var journeys []*probes.Journey
	if err == nil {
		journeys, err = probes.Compile(cfg)
	}
	if err != nil {
		a.rec.Reloaded(err)
		if a.ready.Load() {
			a.logger.Error("config not reloaded; the previous config keeps running", "config", a.src.name, "err", err)
		}
		return err
	}
	// Secrets of earlier configs stay hidden too: runs that started under
	// them may still report.
	a.env.SetRedactor(a.env.Redactor().With(cfg.Secrets...))
	a.rec.SetLocation(cfg.Global.Location)
	a.env.SetLocation(cfg.Global.Location)
	shard := effectiveShard(a.shard, cfg)
	if a.shard != nil && cfg.Global.Shard.Split() && cfg.Global.Shard != *a.shard {
		a.logger.Info("--shard wins over the config's global.shard", "shard", a.shard.String(), "global.shard", cfg.Global.Shard.String())
	}
	a.env.SetShard(shard)
	a.rec.SetShard(shard)
	a.sched.SetLockoutProtection(cfg.Global.LockoutProtection)
	a.sched.Apply(journeys, cfg.Global.MaxConcurrency)
	a.rec.Reloaded(nil)
	a.ready.Store(true)
	attrs := []any{"config", a.src.name, "journeys", len(journeys), "location", cfg.Global.Location}
	if shard.Split() {
		attrs = append(attrs, "shard", shard.String())
	}
	a.logger.Info("config loaded", attrs...)
	return nil
}

// serve runs journeys and the web server until SIGINT or SIGTERM.
func serve(ctx context.Context, s settings, src source, mounts map[string]http.Handler) error {
	env := &probes.Env{}
	logger, err := newLogger(s, env)
	if err != nil {
		return err
	}
	env.Logger = logger
	stopTracing, err := setupTracing(ctx, logger)
	if err != nil {
		return err
	}
	defer stopTracing()
	bopts, err := s.browserOptions(logger)
	if err != nil {
		return err
	}
	shard, err := s.shard()
	if err != nil {
		return err
	}
	browserstep.Configure(bopts)
	defer browserstep.Shutdown()
	// Orphaned Chromium helpers come to authprobe and are reaped, rather
	// than piling up as zombies when authprobe is PID 1 of a container.
	if err := browser.BecomeSubreaper(); err != nil {
		logger.Debug("cannot become a child subreaper", "err", err)
	}
	if wc := s.webConfig(); wc != "" {
		if err := web.Validate(wc); err != nil {
			return &exitError{2, fmt.Errorf("--web.config.file %s: %v", wc, err)}
		}
	}
	rec := exporter.NewRecorder(version, exporter.WithRevision(commit))
	rec.MustRegister(browserCollector{})
	sched := probes.NewScheduler(env)
	sched.OnResult = func(j *probes.Journey, res probes.Result) {
		rec.Result(j, res)
		if res.Outcome != probes.OutcomeSuccess {
			logger.Debug("run failed", "journey", res.Journey, "variant", res.Variant, "target", res.Target,
				"outcome", res.Outcome, "reason", res.Reason, "step", res.FailedStep, "msg", res.Message, "trace_id", res.TraceID)
		}
	}
	sched.OnSkip = rec.Skip
	sched.OnSeries = rec.Series
	sched.OnBackoff = func(j *probes.Journey, key probes.SeriesKey, b probes.Backoff) {
		rec.Backoff(j, key, b)
		attrs := []any{"journey", key.Journey, "variant", key.Variant, "target", key.Target}
		if b.Until.IsZero() {
			logger.Info("back on schedule after refused credentials", attrs...)
			return
		}
		logger.Warn("credentials refused again: backing off so the identity provider does not lock the test account",
			append(attrs, "failures", b.Failures, "next_run", b.Until.UTC().Format(time.RFC3339), "interval", b.Interval)...)
	}
	a := &app{src: src, shard: shard, env: env, sched: sched, rec: rec, logger: logger}
	if err := a.reload(); err != nil {
		return &exitError{1, fmt.Errorf("authprobe did not start: the config %s is invalid:\n%v", src.name, err)}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { sched.Run(ctx) })
	wg.Go(func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				browser.Reap()
			}
		}
	})

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading the config")
				a.reload()
			}
		}
	})
	if src.file != "" && s.watch() {
		wg.Go(func() {
			err := config.Watch(ctx, src.file, 500*time.Millisecond, func() {
				logger.Info("the config file changed: reloading", "config", src.file)
				a.reload()
			})
			if err != nil {
				logger.Warn("cannot watch the config file; reload with SIGHUP or POST /-/reload", "config", src.file, "err", err)
			}
		})
	}

	opts := exporter.Options{
		Recorder: rec, Ready: a.ready.Load, Version: version, ConfigFile: src.name,
		Mounts: mounts, Logger: logger,
	}
	if s.reloadEnabled() {
		opts.Reload = a.reload
	}
	srv := &http.Server{Handler: exporter.Handler(opts), ReadHeaderTimeout: 10 * time.Second}
	addrs := s.listenAddresses()
	systemd := false
	webConfig := s.webConfig()
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- web.ListenAndServe(srv, &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}, logger)
	}()
	select {
	case err = <-serveErr:
		stop()
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(shutdown)
		cancel()
		err = <-serveErr
	}
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return &exitError{1, fmt.Errorf("web server: %v", err)}
	}
	logger.Info("authprobe stopped")
	return nil
}
