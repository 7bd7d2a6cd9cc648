package config_test

import (
	"path/filepath"
	"testing"

	"github.com/authprobe/authprobe/config"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]config.Shard{"0/1": {Index: 0, Total: 1}, "2/3": {Index: 2, Total: 3}, "15/16": {Index: 15, Total: 16}} {
		got, err := config.ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%+v.String() = %q; want %q", got, got.String(), in)
		}
	}
	if (config.Shard{}).String() != "0/1" || (config.Shard{}).Split() {
		t.Error("the zero shard must be 0/1, the whole config")
	}
}

// Every message a wrong shard gets, from the flag (ParseShard, which the
// command prefixes with --shard) and from the file.
func TestShardErrors(t *testing.T) {
	t.Setenv("AUTHPROBE_TEST_SHARD", "5/2")
	tests := []struct{ value, parse, file string }{
		{"3/3", `"3/3" is out of range; with 3 shards the index runs from 0 to 2`, ""},
		{"-1/2", `"-1/2" is out of range; with 2 shards the index runs from 0 to 1`, ""},
		{"0/0", `"0/0" has 0 shards; N, the number of shards, must be 1 or more`, ""},
		{"a/b", `"a/b" is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3`, ""},
		{"1", `"1" is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3`, ""},
		{"+1/2", `"+1/2" is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3`, ""},
		{"1/2/3", `"1/2/3" is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3`, ""},
		{"", `"" is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3`, ""},
		// A reference is quoted as written, not as resolved.
		{"${env:AUTHPROBE_TEST_SHARD}", "", `"${env:AUTHPROBE_TEST_SHARD}" is out of range; with 2 shards the index runs from 0 to 1`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if tt.parse != "" {
				if _, err := config.ParseShard(tt.value); err == nil || err.Error() != tt.parse {
					t.Errorf("ParseShard(%q): %v\nwant: %s", tt.value, err, tt.parse)
				}
			}
			want := tt.file
			if want == "" {
				want = tt.parse
			}
			path := filepath.Join(t.TempDir(), "authprobe.yaml")
			writeFile(t, path, "global:\n  shard: \""+tt.value+"\"\njourneys:\n  - name: j\n    steps: [{ name: s, http: { url: \"https://x.example/\" } }]\n")
			_, err := config.Load(path)
			if want = path + ":2: global.shard: " + want; err == nil || err.Error() != want {
				t.Errorf("got:\n%v\nwant:\n%s", err, want)
			}
		})
	}

	path := filepath.Join(t.TempDir(), "authprobe.yaml")
	writeFile(t, path, "global: { shard: [0, 2] }\njourneys:\n  - name: j\n    steps: [{ name: s, http: { url: \"https://x.example/\" } }]\n")
	if _, err := config.Load(path); err == nil || err.Error() != path+`:1: global.shard: must be a shard like "0/3", not a list` {
		t.Errorf("a list: %v", err)
	}
}

func TestShardFromConfig(t *testing.T) {
	t.Setenv("AUTHPROBE_TEST_SHARD", "1/4")
	for yaml, want := range map[string]config.Shard{
		"":                             {},
		"global: { shard: 1/3 }\n":     {Index: 1, Total: 3},
		"global: { shard: \"0/1\" }\n": {Index: 0, Total: 1},
		"global: { shard: \"${env:AUTHPROBE_TEST_SHARD}\" }\n": {Index: 1, Total: 4},
	} {
		path := filepath.Join(t.TempDir(), "authprobe.yaml")
		writeFile(t, path, yaml+"journeys:\n  - name: j\n    steps: [{ name: s, http: { url: \"https://x.example/\" } }]\n")
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Global.Shard.String() != want.String() {
			t.Errorf("%q: shard %s; want %s", yaml, cfg.Global.Shard, want)
		}
	}
}
