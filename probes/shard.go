package probes

import (
	"hash/fnv"

	"github.com/authprobe/authprobe/config"
)

// Sharding splits one config across N authprobe processes (a StatefulSet's
// replicas, each given --shard=I/N): every series, one journey × variant ×
// target, runs on exactly one of them. Which one depends on the series'
// names only, so adding, removing or editing other journeys never moves a
// series, and every process and version agrees without talking to the
// others. A process creates no series, not even zeros, for what it does not
// own: the union of the shards' /metrics is what one unsharded process
// would export.

// Shard returns which of n shards runs the series: FNV-1a 64 of journey,
// variant and target, each followed by a NUL, mod n. FNV's low bits depend
// only on the low bits of each byte (names differing in one letter, 'a'
// and 'c', would always share a shard of 2), so the hash passes through
// MurmurHash3's 64-bit finalizer first. This is a contract: changing it
// moves series between the shards of a running fleet.
func (k SeriesKey) Shard(n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	for _, s := range []string{k.Journey, k.Variant, k.Target} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return int(x % uint64(n))
}

// Owns reports whether shard runs the series.
func Owns(shard config.Shard, k SeriesKey) bool {
	return k.Shard(shard.Count()) == shard.Index
}

// SetShard sets the part of the config this process runs; the scheduler
// reads it at Apply, RunOnce when called.
func (e *Env) SetShard(s config.Shard) {
	s.Total = s.Count() // the zero value and 0/1 are the same shard
	e.shard.Store(&s)
}

// Shard returns the part of the config this process runs: 0/1, all of
// it, unless SetShard was called.
func (e *Env) Shard() config.Shard {
	if e != nil {
		if p := e.shard.Load(); p != nil {
			return *p
		}
	}
	return config.Shard{Total: 1}
}

// Pair is one journey × variant × target schedule: one series, or a DNS
// fan-out whose series are its addresses, known only once resolved.
type Pair struct {
	Journey *Journey
	Variant *Variant
	// Target is the fixed target, "" without fan-out, or the DNS fan-out's
	// name:port: the series that reports its failed lookups.
	Target string
	// DNS marks a DNS fan-out.
	DNS bool
}

// Key is the series the pair feeds; for a DNS fan-out, the one of its
// failed lookups.
func (p Pair) Key() SeriesKey { return SeriesKey{p.Journey.Name, p.Variant.Name, p.Target} }

// Pairs lists what shard runs of journeys, in configuration order: the
// fixed series it owns, and every DNS fan-out, whose addresses it splits
// with the other shards as they resolve (see OwnedTargets). The scheduler,
// RunOnce and authprobe check all take their work from here.
func Pairs(journeys []*Journey, shard config.Shard) []Pair {
	var out []Pair
	for _, j := range journeys {
		for _, v := range j.Variants {
			switch {
			case j.Targets == nil:
				out = append(out, Pair{j, v, "", false})
			case j.Targets.DNS != "":
				out = append(out, Pair{j, v, j.Targets.DNS, true})
			default:
				for _, t := range j.Targets.Static {
					out = append(out, Pair{j, v, t, false})
				}
			}
		}
	}
	if !shard.Split() {
		return out
	}
	owned := out[:0]
	for _, p := range out {
		if p.DNS || Owns(shard, p.Key()) {
			owned = append(owned, p)
		}
	}
	return owned
}

// OwnedTargets returns the resolved addresses of a DNS fan-out that shard
// runs. Every shard resolves the name; each address runs on one of them.
func OwnedTargets(shard config.Shard, j *Journey, v *Variant, targets []string) []string {
	if !shard.Split() {
		return targets
	}
	var out []string
	for _, t := range targets {
		if Owns(shard, SeriesKey{j.Name, v.Name, t}) {
			out = append(out, t)
		}
	}
	return out
}
