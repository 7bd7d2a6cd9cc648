// Package config loads authprobe's configuration: it decodes the file
// strictly (unknown keys are errors with their path), resolves ${env:...} and
// ${file:...} references once, applies defaults from global, and validates
// everything before anything runs. A Config is immutable once loaded.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/cascadia"
	"go.yaml.in/yaml/v3"

	"github.com/authprobe/authprobe/internal/jsonpath"
)

// Config is a loaded, validated configuration.
type Config struct {
	Global   Global    `yaml:"global" doc:"Defaults for every journey and settings of the prober itself."`
	Journeys []Journey `yaml:"journeys,required" doc:"The journeys to run; each is a list of steps sharing cookies and variables."`

	// File is the path the config was loaded from.
	File string `yaml:"-"`
	// Secrets are the values of the references resolved into request fields;
	// they must never be shown.
	Secrets []string `yaml:"-"`
}

// Global holds defaults for journeys and settings of the prober itself.
type Global struct {
	Interval       Duration `yaml:"interval" doc:"How often each journey runs unless it sets its own. Default 30s."`
	Timeout        Duration `yaml:"timeout" doc:"Hard deadline for one run, all steps together, unless a journey sets its own; cut to a journey's interval when longer. Default 10s."`
	Location       string   `yaml:"location,public" doc:"Where this prober runs; becomes the location label. Default \"default\"."`
	MaxConcurrency int      `yaml:"max_concurrency" doc:"Runs in flight across all journeys; a run that would exceed it is skipped and counted. Default 64."`
	SLO            SLO      `yaml:"slo" doc:"Objective for journeys that set none. Default 99.5."`
	Shard          Shard    `yaml:"shard" doc:"Run only shard I of N, written \"I/N\" with I from 0: the journey × variant × target series whose stable hash of those names mod N is I, so N replicas with the same config split it with no overlap and no gap (DNS fan-out addresses are split as they resolve). The --shard flag (env AUTHPROBE_SHARD) wins over this. Default 0/1, everything."`
	// LockoutProtection keeps failing journeys from locking their test
	// accounts: identity providers lock an account after a few wrong
	// passwords, and a prober retrying every 30 s would keep it locked.
	LockoutProtection LockoutProtection `yaml:"lockout_protection" doc:"Back off a journey × variant × target whose credentials keep being refused (reason invalid_credentials), so the identity provider does not lock its test account. Default { after: 3, max_backoff: 1h }."`
}

// LockoutProtection says when a series backs off after refused credentials
// and how far. A series backing off skips its due runs (counted with cause
// backoff) until its pause is over; its first success, or a change to its
// journey, resumes the schedule.
type LockoutProtection struct {
	After      int      `yaml:"after" doc:"Runs failing with invalid_credentials since the series' last success before it backs off; other failures neither count nor reset. 0 turns the protection off. Default 3."`
	MaxBackoff Duration `yaml:"max_backoff" doc:"The longest pause between runs while backing off: the interval doubles with each refused run, from twice the interval at the after-th, up to this. Default 1h."`
}

// SLO is a journey's service-level objective.
type SLO struct {
	Objective float64 `yaml:"objective,required" doc:"Percent of runs that must succeed, e.g. 99.5; exported as authprobe_journey_slo_objective_ratio."`
}

// Defaults for fields left out.
const (
	DefaultInterval       = 30 * time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultLocation       = "default"
	DefaultMaxConcurrency = 64
	DefaultObjective      = 99.5
	DefaultMaxTargets     = 32
	// DefaultLockoutAfter and DefaultMaxBackoff are global.lockout_protection's.
	DefaultLockoutAfter = 3
	DefaultMaxBackoff   = time.Hour
)

// Journey is one user journey: steps run in order in one run.
type Journey struct {
	Name     string              `yaml:"name,required,public" doc:"Unique name; becomes the journey label."`
	Interval Duration            `yaml:"interval" doc:"How often the journey runs. Default: global.interval."`
	Timeout  Duration            `yaml:"timeout" doc:"Hard deadline for one run; at most the interval. Default: global.timeout, or the interval if shorter."`
	SLO      *SLO                `yaml:"slo" doc:"Objective for this journey. Default: global.slo."`
	Vars     map[string]Template `yaml:"vars" doc:"Variables every run starts with; may use ${env:...} and ${file:...}."`
	Variants []Variant           `yaml:"variants" doc:"Run the journey once per variant, each with its own vars and its own series (label variant)."`
	Targets  *Targets            `yaml:"targets" doc:"Fan-out: run the journey once per address of one host, each its own series (label target)."`
	Steps    []Step              `yaml:"steps,required" doc:"The steps, run in order; the first failure ends the run except for always steps."`

	// Fingerprint changes whenever anything that affects the journey's runs
	// changes, including resolved secrets and inherited defaults.
	Fingerprint string `yaml:"-"`
}

// Variant is one flavour of a journey, such as a user on a beta cohort.
type Variant struct {
	Name string              `yaml:"name,required,public" doc:"Unique within the journey; becomes the variant label."`
	Vars map[string]Template `yaml:"vars" doc:"Variables for this variant; override the journey's."`
}

// Targets fans a journey out over the addresses of one logical host.
type Targets struct {
	Host       string   `yaml:"host,required,public" doc:"The logical host:port whose requests are redirected, e.g. api.example.com:443. Host header and TLS name stay this name."`
	Static     []string `yaml:"static,public" doc:"Addresses (host:port) to run against, one series each."`
	DNS        string   `yaml:"dns,public" doc:"A name:port whose every A/AAAA record is a target, re-resolved each run."`
	MaxTargets int      `yaml:"max_targets" doc:"Most addresses run from a dns lookup; the rest are dropped and logged. Default 32."`
}

// Step is one step of a journey: one kind (http, oauth2, ...) plus the
// extraction and expectations that apply to what it observed.
type Step struct {
	Name       string             `yaml:"name,required,public" doc:"Unique within the journey; becomes the step label."`
	Always     bool               `yaml:"always" doc:"Run even after an earlier step failed (logout, cleanup)."`
	Extract    map[string]Extract `yaml:"extract" doc:"Variables to set from the response, by name."`
	Expect     Expect             `yaml:"expect" doc:"What the response must look like."`
	RetryUntil *RetryUntil        `yaml:"retry_until" doc:"Repeat the step until expect holds, for asynchronous outcomes."`

	// Kind is the step kind's key ("http") and Spec its decoded settings.
	Kind string `yaml:"-"`
	Spec any    `yaml:"-"`
	// Line is where the step starts in the file.
	Line int `yaml:"-"`
}

// RetryUntil polls a step until its expectations hold.
type RetryUntil struct {
	Every Duration `yaml:"every,required" doc:"Pause between attempts."`
	For   Duration `yaml:"for,required" doc:"Give up after this long; the run's timeout still applies."`
}

// Extract says where one variable's value comes from. Exactly one source is set.
type Extract struct {
	Regex     *Regexp  `yaml:"regex" doc:"Regular expression on the body; the first capture group, or the whole match without one."`
	JSON      JSONPath `yaml:"json" doc:"JSONPath into the JSON body, e.g. $.access_token."`
	Header    string   `yaml:"header" doc:"A response header."`
	Cookie    string   `yaml:"cookie" doc:"A cookie in the run's jar after the step."`
	CSS       CSS      `yaml:"css" doc:"CSS selector into the HTML body; the element's text, or attr."`
	Attr      string   `yaml:"attr" doc:"With css: take this attribute instead of the text."`
	FormField string   `yaml:"form_field" doc:"The value of the HTML form input with this name (hidden CSRF fields)."`
	Secret    bool     `yaml:"secret" doc:"The value is a secret (a session, a token): never shown."`
}

// Expect is what a step's response must look like.
type Expect struct {
	Status       StatusSet         `yaml:"status" doc:"Accepted status codes or classes: 200, 2xx, or a list. Default 2xx."`
	BodyContains StringList        `yaml:"body_contains" doc:"Text the body must contain (one or a list)."`
	BodyRegex    *Regexp           `yaml:"body_regex" doc:"Regular expression the body must match."`
	JSON         JSONExpect        `yaml:"json" doc:"JSONPath to the value it must equal, e.g. {\"$.status\": active}."`
	Header       map[string]Regexp `yaml:"header" doc:"Header name to a regular expression its value must match."`
	Cookie       StringList        `yaml:"cookie" doc:"Cookies the response must set."`
	MaxDuration  Duration          `yaml:"max_duration" doc:"The step fails with reason timeout if it takes longer."`
	Rejected     bool              `yaml:"rejected" doc:"Fail-closed check: the request must be refused (401/403, or the statuses given); acceptance fails with reason not_rejected."`
}

// JSONPath is a parsed path into a JSON document.
type JSONPath struct{ jsonpath.Path }

// UnmarshalConfig parses the path at load.
func (p *JSONPath) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	s, ok := d.Text(n, path, "a JSONPath like $.access_token")
	if !ok {
		return
	}
	jp, err := jsonpath.Parse(s)
	if err != nil {
		d.Errorf(n, path, "%s", strings.ReplaceAll(err.Error(), s, n.Value))
		return
	}
	p.Path = jp
}

// IsZero reports whether no path was given.
func (p JSONPath) IsZero() bool { return p.String() == "" }

// JSONExpect is a list of JSONPath assertions, in file order.
type JSONExpect []JSONAssertion

// JSONAssertion says the value at Path must equal Want (a string, number, boolean or null).
type JSONAssertion struct {
	Path JSONPath
	Want any
}

// UnmarshalConfig decodes {path: value} pairs keeping their order.
func (e *JSONExpect) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "must be a mapping of JSONPath to value, not %s", describe(n))
		return
	}
	for _, kv := range d.MappingPairs(n, path) {
		k, v := kv[0], kv[1]
		p := path.Key(k.Value)
		var a JSONAssertion
		a.Path.UnmarshalConfig(d, k, p)
		if v.Kind != yaml.ScalarNode {
			d.Errorf(v, p, "must be a string, number, boolean or null, not %s", describe(v))
			continue
		}
		switch v.Tag {
		case "!!str", "!!timestamp":
			// A date written unquoted is compared as the text it is.
			r, ok := d.Text(v, p, "a string")
			if !ok {
				continue
			}
			a.Want = r
		default:
			if err := v.Decode(&a.Want); err != nil {
				d.Errorf(v, p, "%v", err)
				continue
			}
			if f, ok := a.Want.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				d.Errorf(v, p, "%s is not a number JSON can hold", v.Value)
				continue
			}
		}
		*e = append(*e, a)
	}
}

// CSS is a CSS selector compiled at load.
type CSS struct {
	Src string
	cascadia.Selector
}

// UnmarshalConfig compiles the selector.
func (c *CSS) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	s, ok := d.Text(n, path, "a CSS selector")
	if !ok {
		return
	}
	sel, err := cascadia.Compile(s)
	if err != nil {
		d.Errorf(n, path, "is not a valid CSS selector: %s", strings.ReplaceAll(err.Error(), s, n.Value))
		return
	}
	*c = CSS{Src: s, Selector: sel}
}

var (
	labelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	varName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

const nameRule = "use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters"

// Check validates global settings.
func (g *Global) Check(c *Check) {
	if g.Interval.D() < time.Second {
		c.Errorf("interval", "%s is too short; the minimum is 1s", g.Interval)
	}
	if g.Timeout <= 0 {
		c.Errorf("timeout", "must be more than 0")
	}
	if !labelName.MatchString(g.Location) {
		c.Errorf("location", "%q is not a valid location; %s", g.Location, nameRule)
	}
	if g.MaxConcurrency < 1 || g.MaxConcurrency > 100000 {
		c.Errorf("max_concurrency", "%d is out of range; use 1 to 100000", g.MaxConcurrency)
	}
}

// Check validates the lockout protection.
func (p *LockoutProtection) Check(c *Check) {
	if p.After < 0 || p.After > 1000 {
		c.Errorf("after", "%d is out of range; use 1 to 1000 refused runs, or 0 to turn the protection off", p.After)
	}
	if p.After > 0 && p.MaxBackoff.D() < time.Second {
		c.Errorf("max_backoff", "%s is too short; the minimum is 1s (set after: 0 to turn the protection off)", p.MaxBackoff)
	}
}

// Check validates an objective.
func (s *SLO) Check(c *Check) {
	if s.Objective <= 0 || s.Objective >= 100 {
		c.Errorf("objective", "%v is not a percentage between 0 and 100 (exclusive); write 99.5 for 99.5%%", s.Objective)
	}
}

// Check validates a journey on its own; rules across journeys are in Config.check.
func (j *Journey) Check(c *Check) {
	if j.Name != "" && !labelName.MatchString(j.Name) {
		c.Errorf("name", "%q is not a valid name; %s", j.Name, nameRule)
	}
	if c.Has("interval") && j.Interval.D() < time.Second {
		c.Errorf("interval", "%s is too short; the minimum is 1s", j.Interval)
	}
	if c.Has("timeout") && j.Timeout <= 0 {
		c.Errorf("timeout", "must be more than 0")
	}
	checkVars(c, "vars", j.Vars)
	seen := map[string]bool{}
	for i, v := range j.Variants {
		if seen[v.Name] {
			c.Errorf(fmt.Sprintf("variants[%d].name", i), "%q is used by an earlier variant; variant names must be unique", v.Name)
		}
		seen[v.Name] = true
	}
	seen = map[string]bool{}
	for i, s := range j.Steps {
		if s.Name != "" && seen[s.Name] {
			c.ErrorAt(s.Line, fmt.Sprintf("steps[%d].name", i), "%q is used by an earlier step; step names must be unique in a journey", s.Name)
		}
		seen[s.Name] = true
	}
	if c.Has("steps") && len(j.Steps) == 0 {
		c.Errorf("steps", "is empty; a journey needs at least one step")
	}
}

func checkVars(c *Check, field string, vars map[string]Template) {
	for _, name := range sortedKeys(vars) {
		p := field + "." + name
		if !varName.MatchString(name) {
			c.Errorf(p, "%q is not a valid variable name; use letters, digits and '_', starting with a letter or '_'", name)
		}
		if !vars[name].IsStatic() {
			c.Errorf(p, "cannot use {{ }}; vars are fixed values (use ${env:...} for secrets)")
		}
	}
}

// Check validates a variant.
func (v *Variant) Check(c *Check) {
	if v.Name != "" && !labelName.MatchString(v.Name) {
		c.Errorf("name", "%q is not a valid name; %s", v.Name, nameRule)
	}
	checkVars(c, "vars", v.Vars)
}

// Check validates a fan-out.
func (t *Targets) Check(c *Check) {
	if t.Host != "" {
		if _, _, err := net.SplitHostPort(t.Host); err != nil {
			c.Errorf("host", "%q is not host:port; write it like api.example.com:443", t.Host)
		}
	}
	switch {
	case len(t.Static) == 0 && t.DNS == "":
		c.Errorf("", "names no addresses; give static: [host:port, ...] or dns: name:port")
	case len(t.Static) > 0 && t.DNS != "":
		c.Errorf("", "has both static and dns; give one")
	}
	seen := map[string]bool{}
	for i, a := range t.Static {
		if _, _, err := net.SplitHostPort(a); err != nil {
			c.Errorf(fmt.Sprintf("static[%d]", i), "%q is not host:port; write it like 10.0.0.7:443", a)
		}
		if seen[a] {
			c.Errorf(fmt.Sprintf("static[%d]", i), "%q is listed twice", a)
		}
		seen[a] = true
	}
	if t.DNS != "" {
		if _, _, err := net.SplitHostPort(t.DNS); err != nil {
			c.Errorf("dns", "%q is not name:port; write it like api-headless.prod.svc:443", t.DNS)
		}
	}
	if c.Has("max_targets") && (t.MaxTargets < 1 || t.MaxTargets > 1024) {
		c.Errorf("max_targets", "%d is out of range; use 1 to 1024", t.MaxTargets)
	}
}

// Check validates a retry policy.
func (r *RetryUntil) Check(c *Check) {
	if c.Has("every") && r.Every <= 0 {
		c.Errorf("every", "must be more than 0")
	}
	if c.Has("for") && c.Has("every") && r.For < r.Every {
		c.Errorf("for", "%s is shorter than every (%s); nothing would be retried", r.For, r.Every)
	}
}

// Check validates that an extraction names exactly one source.
func (e *Extract) Check(c *Check) {
	var sources []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"regex", e.Regex != nil}, {"json", !e.JSON.IsZero()}, {"header", e.Header != ""}, {"cookie", e.Cookie != ""}, {"css", e.CSS.Src != ""}, {"form_field", e.FormField != ""}} {
		if f.set {
			sources = append(sources, f.name)
		}
	}
	switch len(sources) {
	case 0:
		c.Errorf("", "names no source; give one of regex, json, header, cookie, css, form_field")
	case 1:
	default:
		c.Errorf("", "names several sources (%s); give one", strings.Join(sources, ", "))
	}
	if e.Attr != "" && e.CSS.Src == "" {
		c.Errorf("attr", "only applies to css")
	}
}

// Check validates expectations.
func (e *Expect) Check(c *Check) {
	if c.Has("max_duration") && e.MaxDuration <= 0 {
		c.Errorf("max_duration", "must be more than 0")
	}
}

// StepKind describes a step kind to the decoder; see probes.Register.
type StepKind struct {
	// Name is the key that selects the kind in a step ("http").
	Name string
	// NewSpec returns a pointer to a new, zero settings struct of the kind.
	NewSpec func() any
	// Doc is a one-line description for the schema.
	Doc string
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]StepKind{}
)

// RegisterStepKind makes a step kind known to the decoder.
func RegisterStepKind(k StepKind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	kinds[k.Name] = k
}

// StepKinds returns the registered kinds, sorted by name.
func StepKinds() []StepKind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]StepKind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func kindNames() []string {
	var names []string
	for _, k := range StepKinds() {
		names = append(names, k.Name)
	}
	return names
}

// UnmarshalConfig decodes a step's fixed fields and its one kind.
func (s *Step) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "must be a mapping with a name and one step kind, not %s", describe(n))
		return
	}
	s.Line = n.Line
	kindsMu.RLock()
	known := kinds
	kindsMu.RUnlock()
	unknown := false
	d.DecodeFields(n, path, s, func(k, v *yaml.Node) {
		kind, ok := known[k.Value]
		if !ok {
			d.Errorf(k, path.Key(k.Value), "unknown field%s", suggest(k.Value, append(fieldNames(fields(stepType)), kindNames()...)))
			unknown = true
			return
		}
		if s.Kind != "" {
			d.Errorf(k, path.Key(k.Value), "a step has one kind, and this one already has %s; split it into two steps", s.Kind)
			return
		}
		s.Kind = k.Value
		spec := kind.NewSpec()
		d.Decode(v, path.Field(k.Value), spec)
		s.Spec = spec
	})
	if s.Kind == "" && !unknown {
		d.Errorf(n, path, "has no step kind; add one of: %s", strings.Join(kindNames(), ", "))
	}
}

var stepType = reflect.TypeFor[Step]()

// UnmarshalConfig decodes the top level. Keys starting with x- are ignored,
// as in Compose files, so YAML anchors shared by journeys have a home.
func (cfg *Config) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "the config must be a mapping with global and journeys, not %s", describe(n))
		return
	}
	d.DecodeFields(n, path, cfg, func(k, _ *yaml.Node) {
		if !strings.HasPrefix(k.Value, "x-") {
			d.Errorf(k, path.Key(k.Value), "unknown field%s (keys starting with x- are ignored, for YAML anchors)", suggest(k.Value, fieldNames(fields(reflect.TypeFor[Config]()))))
		}
	})
}

// check validates rules that span a whole config.
func (cfg *Config) check(d *Decoder, root *yaml.Node) {
	seen := map[string]int{}
	nodes := journeyNodes(root)
	for i, j := range cfg.Journeys {
		if j.Name == "" {
			continue
		}
		if first, ok := seen[j.Name]; ok {
			var n *yaml.Node
			if i < len(nodes) {
				n = nodes[i]
			}
			d.Errorf(n, Path("journeys").Index(i).Field("name"), "%q is also the name of journeys[%d]; journey names must be unique", j.Name, first)
			continue
		}
		seen[j.Name] = i
	}
	if len(cfg.Journeys) == 0 && root != nil && d.errs == nil {
		d.Errorf(root, "journeys", "is empty; configure at least one journey")
	}
}

// applyDefaults fills journey fields left out from global. It runs after
// decoding so global may appear anywhere in the file. As in Prometheus, an
// inherited timeout is cut to the journey's interval; a timeout set on the
// journey itself that is longer than its interval is an error, because a
// run must end before the next is due.
func (cfg *Config) applyDefaults(d *Decoder, nodes []*yaml.Node) {
	g := cfg.Global
	for i := range cfg.Journeys {
		j := &cfg.Journeys[i]
		intervalFrom := ""
		if j.Interval == 0 {
			j.Interval, intervalFrom = g.Interval, " (global.interval)"
		}
		if j.Timeout == 0 {
			j.Timeout = min(g.Timeout, j.Interval)
		}
		if j.Timeout > j.Interval {
			var n *yaml.Node
			if i < len(nodes) {
				n = nodes[i]
			}
			d.Errorf(n, Path("journeys").Index(i).Field("timeout"), "%s is longer than the interval %s%s; a run must end before the next is due, so set timeout to %s or less",
				j.Timeout, j.Interval, intervalFrom, j.Interval)
		}
		if j.SLO == nil {
			slo := g.SLO
			j.SLO = &slo
		}
		if j.Targets != nil && j.Targets.MaxTargets == 0 {
			j.Targets.MaxTargets = DefaultMaxTargets
		}
	}
}

// fingerprint sets each journey's Fingerprint from everything its runs
// depend on: its YAML with aliases expanded (a change to an anchor it uses
// is a change to it), the defaults it inherits, and the values of the
// references and files it reads. Journeys that use none of a changed
// secret keep their fingerprint, and so their schedule.
func (cfg *Config) fingerprint(d *Decoder, nodes []*yaml.Node) {
	for i := range cfg.Journeys {
		j := &cfg.Journeys[i]
		h := sha256.New()
		if i < len(nodes) {
			var expanded any
			if err := nodes[i].Decode(&expanded); err == nil {
				b, _ := yaml.Marshal(expanded)
				h.Write(b)
			}
		}
		fmt.Fprintf(h, "|%s|%s|%s|%v|", j.Interval, j.Timeout, cfg.Global.Location, j.SLO.Objective)
		prefix := string(Path("journeys").Index(i))
		for _, dep := range d.deps {
			if p := string(dep.path); p == prefix || strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"[") {
				fmt.Fprintf(h, "%s=%d:%s|", dep.path, len(dep.data), dep.data)
			}
		}
		j.Fingerprint = hex.EncodeToString(h.Sum(nil)[:8])
	}
}

// defaultConfig is what a file that leaves everything out gets.
func defaultConfig() Config {
	return Config{Global: Global{
		Interval:       Duration(DefaultInterval),
		Timeout:        Duration(DefaultTimeout),
		Location:       DefaultLocation,
		MaxConcurrency: DefaultMaxConcurrency,
		SLO:            SLO{Objective: DefaultObjective},
		LockoutProtection: LockoutProtection{
			After:      DefaultLockoutAfter,
			MaxBackoff: Duration(DefaultMaxBackoff),
		},
	}}
}

// Objective returns the journey's objective as a ratio (99.5 → 0.995).
func (j *Journey) Objective() float64 {
	o := DefaultObjective
	if j.SLO != nil {
		o = j.SLO.Objective
	}
	// Divide an integer count of millionths of a percent, so 99.9 becomes
	// 0.999 and not 0.9990000000000001 on the metric.
	return math.Round(o*1e6) / 1e8
}

// String describes an expected JSON value for messages.
func (a JSONAssertion) String() string {
	b, _ := json.Marshal(a.Want)
	return fmt.Sprintf("%s == %s", a.Path, b)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
