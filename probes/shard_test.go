package probes_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/testdns"
	"github.com/authprobe/authprobe/probes"
)

// The hash is a contract across processes and versions: a fleet half
// upgraded must still split its config with no overlap and no gap.
func TestShardHashIsPinned(t *testing.T) {
	for _, tt := range []struct {
		key  probes.SeriesKey
		want [4]int // of 2, 3, 16 and 1000 shards
	}{
		{probes.SeriesKey{Journey: "password-login"}, [4]int{0, 2, 14, 878}},
		{probes.SeriesKey{Journey: "api-token", Target: "10.0.0.7:443"}, [4]int{0, 1, 8, 992}},
		{probes.SeriesKey{Journey: "api-token", Target: "10.0.0.8:443"}, [4]int{1, 2, 3, 187}},
		{probes.SeriesKey{Journey: "web-login", Variant: "beta"}, [4]int{0, 1, 12, 436}},
		{probes.SeriesKey{Journey: "web-login", Variant: "stable"}, [4]int{0, 0, 10, 42}},
		{probes.SeriesKey{Journey: "a"}, [4]int{1, 1, 1, 89}},
		{probes.SeriesKey{Journey: "c"}, [4]int{0, 2, 4, 788}},
	} {
		got := [4]int{tt.key.Shard(2), tt.key.Shard(3), tt.key.Shard(16), tt.key.Shard(1000)}
		if got != tt.want {
			t.Errorf("%+v is on shards %v of 2, 3, 16, 1000; it was on %v, and moving it splits fleets of mixed versions wrongly", tt.key, got, tt.want)
		}
		if tt.key.Shard(1) != 0 || tt.key.Shard(0) != 0 {
			t.Errorf("%+v: one shard (or none given) runs everything", tt.key)
		}
	}
}

// shardedConfig is a config of n journeys: plain ones, ones with variants,
// with static fan-out, and with both. skip leaves one out, edit changes
// one's steps, and insert puts one more journey after the i-th.
func shardedConfig(n, skip, edit, insert int) string {
	var b strings.Builder
	b.WriteString("global: { interval: 1m }\njourneys:\n")
	for i := range n {
		if i != skip {
			path := "/"
			if i == edit {
				path = "/edited"
			}
			fmt.Fprintf(&b, "  - name: journey-%03d\n", i)
			switch i % 4 {
			case 1:
				b.WriteString("    variants: [{ name: a }, { name: b }, { name: c }]\n")
			case 2:
				fmt.Fprintf(&b, "    targets: { host: \"app.example.com:443\", static: [\"10.0.%[1]d.1:443\", \"10.0.%[1]d.2:443\", \"10.0.%[1]d.3:443\"] }\n", i)
			case 3:
				b.WriteString("    variants: [{ name: x }, { name: y }]\n")
				fmt.Fprintf(&b, "    targets: { host: \"app.example.com:443\", static: [\"10.1.%[1]d.1:443\", \"10.1.%[1]d.2:443\"] }\n", i)
			}
			fmt.Fprintf(&b, "    steps: [{ name: get, http: { url: \"https://app.example.com%s\" } }]\n", path)
		}
		if i == insert {
			b.WriteString(`  - name: added
    variants: [{ name: a }, { name: b }]
    targets: { host: "app.example.com:443", static: ["10.2.0.1:443", "10.2.0.2:443", "10.2.0.3:443"] }
    steps: [{ name: get, http: { url: "https://app.example.com/" } }]
`)
		}
	}
	return b.String()
}

func shardEnv(sh config.Shard) *probes.Env {
	env := &probes.Env{}
	env.SetShard(sh)
	return env
}

// Every series of a config runs on exactly one of N shards, for every N up
// to 16, as the scheduler decides it; and a reload that adds, edits and
// removes journeys moves no other series from one shard to another.
func TestShardsSplitEverySeriesOnce(t *testing.T) {
	const n = 300
	before := compile(t, "%s", shardedConfig(n, -1, -1, -1))
	const removed, edited = 41, 42
	after := compile(t, "%s", shardedConfig(n, removed, edited, 150))

	// Everything, as one unsharded scheduler creates it.
	s := probes.NewScheduler(nil)
	e := watch(s)
	s.Apply(before, 64)
	all := e.series
	if len(all) != 825 {
		t.Fatalf("the unsharded config has %d series; want 825", len(all))
	}

	for total := 1; total <= 16; total++ {
		owner := map[probes.SeriesKey]int{}
		for index := range total {
			sh := config.Shard{Index: index, Total: total}
			s := probes.NewScheduler(shardEnv(sh))
			e := watch(s)
			s.Apply(before, 64)
			owned := map[probes.SeriesKey]bool{}
			for k := range e.series {
				if other, ok := owner[k]; ok {
					t.Errorf("%+v runs on shard %d and %d of %d", k, other, index, total)
				}
				owner[k] = index
				owned[k] = true
			}
			// Balance: no shard gets much more or less than its part.
			if mean := float64(len(all)) / float64(total); float64(len(owned)) < 0.5*mean || float64(len(owned)) > 1.5*mean {
				t.Errorf("shard %s runs %d series; about %.0f each would be even", sh, len(owned), mean)
			}

			e.removed = nil
			s.Apply(after, 64)
			for _, k := range e.removed {
				if k.Journey != fmt.Sprintf("journey-%03d", removed) {
					t.Errorf("shard %s: the reload removed %+v", sh, k)
				}
			}
			for k := range e.series {
				if !owned[k] && k.Journey != "added" {
					t.Errorf("shard %s: the reload moved %+v here", sh, k)
				}
				if k.Journey == "added" {
					if other, ok := owner[k]; ok {
						t.Errorf("the added %+v runs on shard %d and %d of %d", k, other, index, total)
					}
					owner[k] = index
				}
			}
			for k := range owned {
				if !e.series[k] && k.Journey != fmt.Sprintf("journey-%03d", removed) {
					t.Errorf("shard %s: the reload moved %+v away", sh, k)
				}
			}
		}
		// After the reload, still once each: the added journey's six
		// series spread like any others.
		for k := range all {
			if _, ok := owner[k]; !ok {
				t.Errorf("of %d shards, none runs %+v", total, k)
			}
		}
		added := 0
		for k := range owner {
			if k.Journey == "added" {
				added++
			}
		}
		if added != 6 {
			t.Errorf("of %d shards, %d series of the added journey run; want 6", total, added)
		}
	}
}

// A change of shard on reload (global.shard edited) stops what the shard
// no longer owns and starts what it now owns.
func TestShardChangeOnReload(t *testing.T) {
	js := compile(t, "%s", shardedConfig(40, -1, -1, -1))
	env := &probes.Env{}
	s := probes.NewScheduler(env)
	e := watch(s)
	s.Apply(js, 64)
	all := len(e.series)
	env.SetShard(config.Shard{Index: 1, Total: 3})
	s.Apply(js, 64)
	for k := range e.series {
		if !probes.Owns(config.Shard{Index: 1, Total: 3}, k) {
			t.Errorf("after the shard changed to 1/3, %+v still runs", k)
		}
	}
	if len(e.series)+len(e.removed) != all || len(e.removed) == 0 {
		t.Errorf("%d series kept and %d removed of %d", len(e.series), len(e.removed), all)
	}
	env.SetShard(config.Shard{})
	s.Apply(js, 64)
	if len(e.series) != all {
		t.Errorf("back to one shard, %d of %d series run", len(e.series), all)
	}
}

// DNS fan-out: every shard resolves the name, and each address runs on
// exactly one of them, as does the series of a name that does not resolve.
func TestShardsSplitDNSFanOut(t *testing.T) {
	// Not parallel: 136 schedulers would make the timing of others late.
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var ips []net.IP
	for i := 1; i <= 24; i++ {
		// Only 127.0.0.1 answers; the others refuse at once, which is
		// as good a run as any for counting who runs what.
		ips = append(ips, net.IPv4(127, 0, 0, byte(i)))
	}
	dns, err := testdns.Start(map[string][]net.IP{"pods.test.": ips})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	js := compile(t, `
journeys:
  - name: pods
    interval: 1s
    timeout: 500ms
    variants: [{ name: a }, { name: b }]
    targets: { host: "api.test:80", dns: "pods.test:%[1]s" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]
  - name: gone
    interval: 1s
    timeout: 500ms
    variants: [{ name: a }, { name: b }, { name: c }]
    targets: { host: "api.test:80", dns: "gone.test:%[1]s" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]`, port)
	want := map[probes.SeriesKey]bool{}
	for _, v := range []string{"a", "b"} {
		for _, ip := range ips {
			want[probes.SeriesKey{Journey: "pods", Variant: v, Target: net.JoinHostPort(ip.String(), port)}] = true
		}
	}
	for _, v := range []string{"a", "b", "c"} {
		want[probes.SeriesKey{Journey: "gone", Variant: v, Target: "gone.test:" + port}] = true
	}
	// A lookup of pods.test that times out under the load of 136
	// schedulers is reported on the series of the name, by one shard.
	maybe := map[probes.SeriesKey]bool{
		{Journey: "pods", Variant: "a", Target: "pods.test:" + port}: true,
		{Journey: "pods", Variant: "b", Target: "pods.test:" + port}: true,
	}

	type shard struct {
		sh config.Shard
		e  *events
	}
	var shards []shard
	for total := 1; total <= 16; total++ {
		for index := range total {
			env := shardEnv(config.Shard{Index: index, Total: total})
			env.Resolver = dns.Resolver()
			s := probes.NewScheduler(env)
			shards = append(shards, shard{config.Shard{Index: index, Total: total}, watch(s)})
			s.Apply(js, 64)
			start(t, s)
		}
	}
	// Each shard has resolved once and run what it owns at least once.
	covered := func() bool {
		seen := map[int]map[probes.SeriesKey]bool{}
		for _, sh := range shards {
			if seen[sh.sh.Total] == nil {
				seen[sh.sh.Total] = map[probes.SeriesKey]bool{}
			}
			sh.e.mu.Lock()
			for _, r := range sh.e.results {
				seen[sh.sh.Total][probes.SeriesKey{Journey: r.Journey, Variant: r.Variant, Target: r.Target}] = true
			}
			sh.e.mu.Unlock()
		}
		for total := 1; total <= 16; total++ {
			if len(seen[total]) < len(want) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); !covered(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not every series ran within 30s")
		}
	}
	owner := map[config.Shard]map[probes.SeriesKey]bool{}
	for _, sh := range shards {
		sh.e.mu.Lock()
		// A lookup that timed out under load removed the addresses' series
		// until the next one: what a shard ever had counts.
		owner[sh.sh] = map[probes.SeriesKey]bool{}
		for k := range sh.e.series {
			owner[sh.sh][k] = true
		}
		for _, k := range sh.e.removed {
			owner[sh.sh][k] = true
		}
		for _, r := range sh.e.results {
			k := probes.SeriesKey{Journey: r.Journey, Variant: r.Variant, Target: r.Target}
			if !owner[sh.sh][k] {
				t.Errorf("shard %s reported a run of %+v, not one of its series", sh.sh, k)
			}
		}
		sh.e.mu.Unlock()
	}
	for total := 1; total <= 16; total++ {
		count := map[probes.SeriesKey][]int{}
		for index := range total {
			for k := range owner[config.Shard{Index: index, Total: total}] {
				count[k] = append(count[k], index)
			}
		}
		for k := range want {
			if len(count[k]) != 1 {
				t.Errorf("of %d shards, %v run %+v; want exactly one", total, count[k], k)
			}
		}
		for k := range count {
			switch {
			case maybe[k] && len(count[k]) > 1:
				t.Errorf("of %d shards, %v report the failed lookups of %+v; want exactly one", total, count[k], k)
			case !want[k] && !maybe[k]:
				t.Errorf("of %d shards, %v run %+v, which is not a series of the config", total, count[k], k)
			}
		}
	}
}

// authprobe once runs the same split as the scheduler.
func TestRunOnceRunsTheShard(t *testing.T) {
	t.Parallel()
	dns, err := testdns.Start(map[string][]net.IP{"pods.test.": {net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3), net.IPv4(127, 0, 0, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	js := compile(t, `
global: { timeout: 2s }
journeys:
  - name: plain
    variants: [{ name: a }, { name: b }, { name: c }, { name: d }]
    steps: [{ name: get, http: { url: "http://127.0.0.1:1/" } }]
  - name: static
    targets: { host: "api.test:80", static: ["127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1", "127.0.0.4:1"] }
    steps: [{ name: get, http: { url: "http://api.test/" } }]
  - name: pods
    targets: { host: "api.test:80", dns: "pods.test:1" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]
  - name: gone
    variants: [{ name: a }, { name: b }, { name: c }]
    targets: { host: "api.test:80", dns: "gone.test:1" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]`)
	keys := func(sh config.Shard) []string {
		env := shardEnv(sh)
		env.Resolver = dns.Resolver()
		var out []string
		for _, r := range probes.RunOnce(t.Context(), env, js, 16) {
			out = append(out, fmt.Sprintf("%s/%s@%s", r.Journey, r.Variant, r.Target))
		}
		return out
	}
	all := keys(config.Shard{})
	if len(all) != 15 {
		t.Fatalf("unsharded: %d runs %v; want 15", len(all), all)
	}
	var union []string
	for index := range 3 {
		union = append(union, keys(config.Shard{Index: index, Total: 3})...)
	}
	slices.Sort(all)
	slices.Sort(union)
	if !slices.Equal(all, union) {
		t.Errorf("3 shards ran\n%v\none process runs\n%v", union, all)
	}
}

// A DNS fan-out's addresses that another shard owns after a change of
// shard go at once, not at its next lookup.
func TestShardChangeOnReloadDNS(t *testing.T) {
	t.Parallel()
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3), net.IPv4(127, 0, 0, 4), net.IPv4(127, 0, 0, 5), net.IPv4(127, 0, 0, 6)}
	dns, err := testdns.Start(map[string][]net.IP{"pods.test.": ips})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	js := compile(t, `
journeys:
  - name: pods
    interval: 1s
    timeout: 500ms
    targets: { host: "api.test:80", dns: "pods.test:1" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]`)
	env := &probes.Env{Resolver: dns.Resolver()}
	s := probes.NewScheduler(env)
	e := watch(s)
	s.Apply(js, 10)
	start(t, s)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.series)
		e.mu.Unlock()
		if n == len(ips) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d series of %d addresses after 3s", n, len(ips))
		}
	}
	sh := config.Shard{Index: 1, Total: 2}
	env.SetShard(sh)
	s.Apply(js, 10)
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.series {
		if !probes.Owns(sh, k) {
			t.Errorf("after the shard changed to %s, %+v remains", sh, k)
		}
	}
	for _, k := range e.removed {
		if probes.Owns(sh, k) {
			t.Errorf("after the shard changed to %s, its own %+v went", sh, k)
		}
	}
	if len(e.series)+len(e.removed) != len(ips) || len(e.removed) == 0 || len(e.series) == 0 {
		t.Errorf("%d series kept and %d removed of %d; want a split", len(e.series), len(e.removed), len(ips))
	}
}
