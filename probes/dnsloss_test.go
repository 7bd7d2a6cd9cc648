package probes_test

import (
	"net"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/testdns"
	"github.com/authprobe/authprobe/probes"
)

// When a fan-out name stops resolving, its addresses' series go on every
// shard, and the shard that owns the name reports the failure on the name's
// series. Kept, the addresses would freeze with their last result: a
// success that hides the outage from the hard-down alert, and on the other
// shards a journey that looks stalled.
func TestFanOutNameGone(t *testing.T) {
	t.Parallel()
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3), net.IPv4(127, 0, 0, 4)}
	dns, err := testdns.Start(map[string][]net.IP{"pods.test.": ips})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	js := compile(t, `
global: { interval: 1s, timeout: 500ms }
journeys:
  - name: pods
    targets: { host: "api.test:80", dns: "pods.test:1" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]`)
	name := probes.SeriesKey{Journey: "pods", Target: "pods.test:1"}

	var shards []*events
	for index := range 2 {
		env := shardEnv(config.Shard{Index: index, Total: 2})
		env.Resolver = dns.Resolver()
		s := probes.NewScheduler(env)
		e := watch(s)
		shards = append(shards, e)
		s.Apply(js, 8)
		start(t, s)
	}
	addresses := func() int {
		n := 0
		for _, e := range shards {
			e.mu.Lock()
			for k := range e.series {
				if k != name {
					n++
				}
			}
			e.mu.Unlock()
		}
		return n
	}
	waitUntil(t, "every address has a series", func() bool { return addresses() == len(ips) })

	dns.Set("pods.test.", nil)
	waitUntil(t, "the addresses' series gone from both shards", func() bool { return addresses() == 0 })
	var reporters []int
	waitUntil(t, "the name's series reporting dns", func() bool {
		reporters = reporters[:0]
		for i, e := range shards {
			e.mu.Lock()
			if e.series[name] {
				for _, r := range e.results {
					if r.Target == name.Target && r.Reason == probes.ReasonDNS {
						reporters = append(reporters, i)
						break
					}
				}
			}
			e.mu.Unlock()
		}
		return len(reporters) == 1
	})
	if owner := probes.Owns(config.Shard{Index: reporters[0], Total: 2}, name); !owner {
		t.Errorf("shard %d reported the name's failure without owning it", reporters[0])
	}

	// The name resolves again: the addresses come back.
	dns.Set("pods.test.", ips)
	waitUntil(t, "the addresses back", func() bool { return addresses() == len(ips) })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
