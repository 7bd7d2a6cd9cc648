package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

func newCheck(s settings) *cobra.Command {
	return &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "Validate a config, resolve its secrets, and summarize its journeys",
		Long: `check loads the config exactly as run would: strict decoding, every
${env:...} and ${file:...} resolved, every template and variable checked.
It prints a summary and exits 0, or prints every problem and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flagShard, err := s.shard()
			if err != nil {
				return err
			}
			path := s.config()
			cfg, journeys, err := loadAndCompile(path)
			if err != nil {
				return &exitError{1, fmt.Errorf("%s is invalid:\n%v", path, indent(err.Error()))}
			}
			summarize(cmd.OutOrStdout(), cfg, journeys, effectiveShard(flagShard, cfg))
			return nil
		},
	}
}

func loadAndCompile(path string) (*config.Config, []*probes.Journey, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, journeys, nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func summarize(w io.Writer, cfg *config.Config, journeys []*probes.Journey, shard config.Shard) {
	fmt.Fprintf(w, "%s is valid: %d journeys, location %q, max_concurrency %d, %d secret values resolved\n",
		cfg.File, len(journeys), cfg.Global.Location, cfg.Global.MaxConcurrency, len(cfg.Secrets))
	if shard.Split() {
		fixed := func(pairs []probes.Pair) (n, dns int) {
			for _, p := range pairs {
				if p.DNS {
					dns++
				} else {
					n++
				}
			}
			return n, dns
		}
		all, dns := fixed(probes.Pairs(journeys, config.Shard{}))
		owned, _ := fixed(probes.Pairs(journeys, shard))
		fmt.Fprintf(w, "shard %s runs %d of %d series (journey × variant × target)", shard, owned, all)
		if dns > 0 {
			fmt.Fprintf(w, "; %d DNS fan-outs (journey × variant) are split by address as they resolve", dns)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOURNEY\tINTERVAL\tTIMEOUT\tOBJECTIVE\tSTEPS\tVARIANTS\tTARGETS")
	for _, j := range journeys {
		steps := make([]string, len(j.Steps))
		for i, s := range j.Steps {
			steps[i] = s.Name + "(" + s.Kind + ")"
		}
		variants := "-"
		if len(j.Variants) > 1 || j.Variants[0].Name != "" {
			names := make([]string, len(j.Variants))
			for i, v := range j.Variants {
				names[i] = v.Name
			}
			variants = strings.Join(names, ",")
		}
		targets := "-"
		if t := j.Targets; t != nil {
			if t.DNS != "" {
				targets = fmt.Sprintf("%s via dns %s", t.Host, t.DNS)
			} else {
				targets = fmt.Sprintf("%s via %d addresses", t.Host, len(t.Static))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4g%%\t%s\t%s\t%s\n", j.Name, j.Interval, j.Timeout, j.Objective*100,
			strings.Join(steps, " → "), variants, targets)
	}
	tw.Flush()
}
