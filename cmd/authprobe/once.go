package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/browserstep"
)

func newOnce(s settings) *cobra.Command {
	var names []string
	var output string
	cmd := &cobra.Command{
		Use:   "once [--config FILE] [--journey NAME]...",
		Short: "Run each journey once, print what happened, exit 1 if any failed",
		Long: `once runs every journey (or those named with --journey) once, for every
variant and target, and prints each step's outcome and timing. It exits 0
when all succeeded, 1 when any failed, and 2 when the config is invalid:
a post-deploy smoke test for a pipeline.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &exitError{2, fmt.Errorf("--output %q is not a format; use table or json", output)}
			}
			flagShard, err := s.shard()
			if err != nil {
				return err
			}
			path := s.config()
			cfg, journeys, err := loadAndCompile(path)
			if err != nil {
				return &exitError{2, fmt.Errorf("%s is invalid:\n%v", path, indent(err.Error()))}
			}
			if len(names) > 0 {
				var picked []*probes.Journey
				for _, n := range names {
					i := slices.IndexFunc(journeys, func(j *probes.Journey) bool { return j.Name == n })
					if i < 0 {
						return &exitError{2, fmt.Errorf("--journey %q is not in %s", n, path)}
					}
					picked = append(picked, journeys[i])
				}
				journeys = picked
			}
			env := &probes.Env{}
			env.SetRedactor(redact.New(cfg.Secrets...))
			env.SetLocation(cfg.Global.Location)
			shard := effectiveShard(flagShard, cfg)
			env.SetShard(shard)
			if env.Logger, err = newLogger(s, env); err != nil {
				return err
			}
			if shard.Split() {
				fmt.Fprintf(cmd.ErrOrStderr(), "authprobe once: shard %s runs only the series it owns; the other shards run the rest\n", shard)
			}
			stopTracing, err := setupTracing(cmd.Context(), env.Logger)
			if err != nil {
				return err
			}
			defer stopTracing()
			bopts, err := s.browserOptions(env.Logger)
			if err != nil {
				return err
			}
			browserstep.Configure(bopts)
			defer browserstep.Shutdown()
			results := probes.RunOnce(cmd.Context(), env, journeys, cfg.Global.MaxConcurrency)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.Encode(results)
			} else {
				printResults(cmd.OutOrStdout(), results)
			}
			failed := 0
			for _, r := range results {
				if r.Outcome != probes.OutcomeSuccess {
					failed++
				}
			}
			if failed > 0 {
				return &exitError{1, fmt.Errorf("%d of %d runs failed", failed, len(results))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&names, "journey", "j", nil, "run only this journey (repeatable)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func printResults(w io.Writer, results []probes.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range results {
		name := r.Journey
		if r.Variant != "" {
			name += " [" + r.Variant + "]"
		}
		if r.Target != "" {
			name += " @ " + r.Target
		}
		mark, detail := "ok  ", ""
		if r.Outcome != probes.OutcomeSuccess {
			mark = "FAIL"
			detail = fmt.Sprintf("%s at %s", r.Reason, r.FailedStep)
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark, name, r.Outcome, round(r.Duration), detail)
		for _, st := range r.Steps {
			status := string(st.Outcome)
			if st.Skipped {
				status = "skipped"
			}
			code := ""
			if st.Status != 0 {
				code = fmt.Sprint(st.Status)
			}
			msg := ""
			if st.Reason != "" {
				msg = string(st.Reason) + ": " + strings.ReplaceAll(st.Message, "\n", " ")
			}
			fmt.Fprintf(tw, "       %s\t%s\t%s\t%s %s\n", st.Name, status, round(st.Duration), code, msg)
		}
	}
	tw.Flush()
}

func round(d time.Duration) string {
	if d < time.Millisecond {
		return d.String()
	}
	return d.Round(time.Millisecond).String()
}
