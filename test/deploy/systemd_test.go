package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
)

const unitFile = "deploy/systemd/authprobe.service"

// readUnit returns a unit file's directives: section, then name, then the
// values of every occurrence in order.
func readUnit(t *testing.T, file string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[string]map[string][]string{}
	for _, o := range opts {
		if out[o.Section] == nil {
			out[o.Section] = map[string][]string{}
		}
		out[o.Section][o.Name] = append(out[o.Section][o.Name], o.Value)
	}
	return out
}

// TestSystemdUnit checks the unit statically: how it starts, reloads and
// restarts authprobe, and the sandbox. Reloading sends SIGHUP to the main
// process, which cmd/authprobe's TestReload shows reloads the config.
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t, repo(unitFile))
	svc := u["Service"]
	for name, want := range map[string]string{
		// authprobe does not speak sd_notify: Type=notify would never start.
		"Type":       "simple",
		"ExecStart":  "/usr/local/bin/authprobe run --config /etc/authprobe/authprobe.yaml",
		"ExecReload": "/bin/kill -HUP $MAINPID",
		"Restart":    "on-failure",

		"DynamicUser":             "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"SystemCallArchitectures": "native",
		"SystemCallFilter":        "@system-service",
		// The config may name secrets in it; the file is optional.
		"EnvironmentFile": "-/etc/authprobe/authprobe.env",
	} {
		if got := svc[name]; !slices.Equal(got, []string{want}) {
			t.Errorf("[Service] %s=%q, want %q", name, got, want)
		}
	}
	// Chromium's V8 compiles JavaScript to writable, executable memory.
	if v, ok := svc["MemoryDenyWriteExecute"]; ok {
		t.Errorf("MemoryDenyWriteExecute=%q breaks browser journeys", v)
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy=%q", got)
	}
	// Every flag in ExecStart exists (cobra refuses unknown ones).
	settings := settingEnv(t)
	for _, f := range strings.Fields(svc["ExecStart"][0]) {
		if name, ok := strings.CutPrefix(f, "--"); ok {
			if env := "AUTHPROBE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name)); !settings[env] {
				t.Errorf("ExecStart: authprobe has no flag --%s", name)
			}
		}
	}
}

// TestSystemdEnvFile checks the example environment file: every
// AUTHPROBE_ variable in it, commented out or not, is a setting authprobe
// reads.
func TestSystemdEnvFile(t *testing.T) {
	settings := settingEnv(t)
	vars := envAssignments(t, repo("deploy/systemd/authprobe.env"))
	n := 0
	for name := range vars {
		if strings.HasPrefix(name, "AUTHPROBE_") {
			n++
			if !settings[name] {
				t.Errorf("%s: authprobe has no such setting", name)
			}
		}
	}
	if n == 0 {
		t.Error("the example sets no AUTHPROBE_ variable")
	}
}

// TestSystemdAnalyze has systemd check the unit: `systemd-analyze verify`
// (directives, values, executables; ExecStart names the binary the images
// ship, as /usr/local/bin/authprobe is not installed here) and
// `systemd-analyze security`, whose exposure score (0 to 10) must stay at
// or below 2.0.
func TestSystemdAnalyze(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "systemd")
	b, err := os.ReadFile(repo(unitFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "authprobe.service")
	text := strings.ReplaceAll(string(b), "ExecStart=/usr/local/bin/authprobe ", "ExecStart="+authprobe(t)+" ")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := run(t, dir, nil, analyze, "verify", "--man=no", file); out != "" {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
	// --threshold is in tenths: exit non-zero above 2.0.
	out := run(t, dir, nil, analyze, "security", "--offline=yes", "--threshold=20", file)
	if !strings.Contains(out, "Overall exposure level for authprobe.service") {
		t.Errorf("systemd-analyze security:\n%s", out)
	}
}
