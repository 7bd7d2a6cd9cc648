package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Shard is the part of a config one authprobe runs when several split it:
// shard Index of Total. Which journey × variant × target belongs to which
// shard is decided by probes (a stable hash of those names), so that N
// replicas run every series exactly once. The zero value, like 0/1, is the
// whole config.
type Shard struct {
	Index, Total int
}

// ParseShard reads a shard written I/N: index I, counted from 0, of N.
// Its errors quote s and say how to write it.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || strings.HasPrefix(is, "+") || strings.HasPrefix(ns, "+") {
		return Shard{}, fmt.Errorf("%q is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3", s)
	}
	if n < 1 {
		return Shard{}, fmt.Errorf("%q has %d shards; N, the number of shards, must be 1 or more", s, n)
	}
	if i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%q is out of range; with %d shards the index runs from 0 to %d", s, n, n-1)
	}
	return Shard{Index: i, Total: n}, nil
}

// Count is the number of shards; 1 for the zero value.
func (s Shard) Count() int { return max(1, s.Total) }

// Split reports whether the config is split at all (N > 1).
func (s Shard) Split() bool { return s.Total > 1 }

// String writes the shard as it is given: 0/3; the zero value is 0/1.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count()) }

// UnmarshalConfig decodes "I/N".
func (s *Shard) UnmarshalConfig(d *Decoder, n *yaml.Node, path Path) {
	v, ok := d.Scalar(n, path, `a shard like "0/3"`)
	if !ok {
		return
	}
	sh, err := ParseShard(v)
	if err != nil {
		// Quote the value as written: it may have been a reference.
		d.Errorf(n, path, "%s", strings.Replace(err.Error(), strconv.Quote(v), strconv.Quote(n.Value), 1))
		return
	}
	*s = sh
}

// JSONSchema of a shard.
func (Shard) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": `^[0-9]+/[0-9]+$|` + refPattern[1:], "examples": []string{"0/1", "2/3"}}
}

// TypeName names the shard's form in the reference.
func (Shard) TypeName() string { return "I/N" }
