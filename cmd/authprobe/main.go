// Command authprobe runs login and token journeys on a schedule and exports
// whether users can log in. See README.md.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/browser"
	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/httpstep"
	_ "github.com/authprobe/authprobe/probes/kinds"
)

// Set by the build (-ldflags "-X main.version=... -X main.commit=...").
var (
	version = "dev"
	commit  = "unknown"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	httpstep.UserAgent = "authprobe/" + version
	root := newRoot()
	if err := root.Execute(); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		os.Exit(code)
	}
}

// settings holds the command-line settings. Viper merges flags with
// AUTHPROBE_* environment variables (AUTHPROBE_CONFIG,
// AUTHPROBE_WEB_LISTEN_ADDRESS, ...), so containers can configure the
// process without arguments. The config file itself is decoded by package
// config, which keeps key case and reports unknown keys with their path.
type settings struct {
	v *viper.Viper
}

func (s settings) config() string            { return s.v.GetString("config") }
func (s settings) listenAddresses() []string { return s.v.GetStringSlice("web.listen-address") }
func (s settings) webConfig() string         { return s.v.GetString("web.config.file") }
func (s settings) reloadEnabled() bool       { return !s.v.GetBool("web.disable-reload") }
func (s settings) watch() bool               { return s.v.GetBool("config.watch") }

// shard returns --shard (or AUTHPROBE_SHARD), nil when neither is given;
// when one is, it wins over the config's global.shard.
func (s settings) shard() (*config.Shard, error) {
	v := s.v.GetString("shard")
	if v == "" {
		return nil, nil
	}
	sh, err := config.ParseShard(v)
	if err != nil {
		name := "--shard"
		if e, ok := os.LookupEnv("AUTHPROBE_SHARD"); ok && e == v {
			name = "AUTHPROBE_SHARD"
		}
		return nil, &exitError{2, fmt.Errorf("%s %v", name, err)}
	}
	return &sh, nil
}

// effectiveShard is the shard a config runs as: the flag's if given, else
// the config's own.
func effectiveShard(flag *config.Shard, cfg *config.Config) config.Shard {
	if flag != nil {
		return *flag
	}
	return cfg.Global.Shard
}

func newRoot() *cobra.Command {
	// Flag names are dotted like Prometheus's (--web.listen-address); a
	// delimiter that never occurs keeps viper from nesting config.watch
	// under config.
	s := settings{v: viper.NewWithOptions(viper.KeyDelimiter("::"))}
	s.v.SetEnvPrefix("AUTHPROBE")
	s.v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	s.v.AutomaticEnv()

	root := &cobra.Command{
		Use:   "authprobe",
		Short: "Synthetic login and token journeys, exported to Prometheus",
		Long: `authprobe runs real login and token journeys on a schedule and exports
whether users can log in. Without a subcommand it runs (authprobe run).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return s.v.BindPFlags(cmd.Flags())
		},
	}
	pf := root.PersistentFlags()
	pf.StringP("config", "c", "authprobe.yaml", "config file (env AUTHPROBE_CONFIG)")
	pf.String("log.level", "info", "log level: debug, info, warn or error")
	pf.String("log.format", "text", "log format: text or json")
	pf.String("shard", "", "run only shard I of N of the config's journey × variant × target series, written I/N with I from 0, e.g. 0/3 (env AUTHPROBE_SHARD); wins over global.shard")

	addServerFlags := func(f *pflag.FlagSet) {
		f.StringSlice("web.listen-address", []string{":9741"}, "addresses to listen on for /metrics, the status page and the API")
		f.String("web.config.file", "", "exporter-toolkit web config file enabling TLS and basic auth")
		f.Bool("web.disable-reload", false, "refuse POST /-/reload (SIGHUP and file changes still reload)")
		f.Bool("config.watch", true, "reload when the config file changes")
	}
	addBrowserFlags(pf)
	run := &cobra.Command{
		Use:   "run",
		Short: "Run journeys on their schedule and serve metrics (the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), s, fileSource(s.config()), nil)
		},
	}
	addServerFlags(run.Flags())
	root.Flags().AddFlagSet(run.Flags())
	root.RunE = run.RunE

	demo := &cobra.Command{
		Use:   "demo",
		Short: "Run against an embedded demo realm with fault switches",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), s)
		},
	}
	addServerFlags(demo.Flags())
	demo.Flags().String("demo.listen-address", "127.0.0.1:0", "where the demo realm listens (loopback; port 0 picks a free one)")

	root.AddCommand(run, demo, newCheck(s), newOnce(s), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "authprobe %s (commit %s, %s)\n", version, commit, runtime.Version())
		},
	})
	return root
}

func addBrowserFlags(f *pflag.FlagSet) {
	f.String("browser.path", "/usr/bin/chromium", "Chromium for browser steps; /usr/lib/chromium/chromium-headless-shell (Debian package chromium-headless-shell) needs about half the CPU and memory")
	f.Int("browser.pool-size", 1, "long-lived browsers shared by all browser steps")
	f.Int("browser.max-tabs", 4, "browser steps running at once; more wait for a tab within their timeout")
	f.Int("browser.recycle-after", 100, "runs a browser serves before it is replaced")
	f.String("browser.max-rss", "1GiB", "a browser whose processes use more memory is replaced after its run")
}

// browserOptions reads the --browser.* settings.
func (s settings) browserOptions(logger *slog.Logger) (browser.Options, error) {
	var rss config.ByteSize
	if err := rss.Parse(s.v.GetString("browser.max-rss")); err != nil {
		return browser.Options{}, &exitError{2, fmt.Errorf("--browser.max-rss: %v", err)}
	}
	o := browser.Options{
		ExecPath:     s.v.GetString("browser.path"),
		Browsers:     s.v.GetInt("browser.pool-size"),
		MaxTabs:      s.v.GetInt("browser.max-tabs"),
		RecycleAfter: s.v.GetInt("browser.recycle-after"),
		MaxRSS:       int64(rss),
		Logger:       logger,
	}
	for name, v := range map[string]int{"--browser.pool-size": o.Browsers, "--browser.max-tabs": o.MaxTabs, "--browser.recycle-after": o.RecycleAfter} {
		if v < 1 {
			return o, &exitError{2, fmt.Errorf("%s %d: use 1 or more", name, v)}
		}
	}
	return o, nil
}

// newLogger builds the process logger; every record passes through the
// redactor of the current config's secrets.
func newLogger(s settings, env *probes.Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.v.GetString("log.level"))); err != nil {
		return nil, &exitError{2, fmt.Errorf("--log.level %q is not a level; use debug, info, warn or error", s.v.GetString("log.level"))}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch f := s.v.GetString("log.format"); f {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, &exitError{2, fmt.Errorf("--log.format %q is not a format; use text or json", f)}
	}
	return slog.New(redact.Handler(h, env.Redactor)), nil
}
