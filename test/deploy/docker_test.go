package deploy

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// A dockerfile is a Dockerfile as build stages of instructions. The parser
// knows what the shipped files use: instructions, comments, empty lines
// and line continuations; not heredocs or parser directives.
type dockerfile struct {
	path   string
	stages []*stage
}

type stage struct {
	image, name string
	line        int
	ins         []instruction
}

type instruction struct {
	cmd  string // upper case: RUN, COPY, ...
	args string // the rest, continuation lines joined
	line int
}

func readDockerfile(file string) (*dockerfile, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	df := &dockerfile{path: file}
	var text strings.Builder
	start := 0
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		// Docker drops comment and empty lines, inside continuations too.
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if text.Len() == 0 {
			start = i + 1
		}
		if s, cont := strings.CutSuffix(line, `\`); cont {
			text.WriteString(s)
			continue
		}
		text.WriteString(line)
		if err := df.add(start, strings.Join(strings.Fields(text.String()), " ")); err != nil {
			return nil, err
		}
		text.Reset()
	}
	if text.Len() > 0 {
		return nil, fmt.Errorf("%s:%d: the last instruction ends in a line continuation", file, start)
	}
	if len(df.stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", file)
	}
	return df, nil
}

func (df *dockerfile) add(line int, text string) error {
	cmd, args, _ := strings.Cut(text, " ")
	ins := instruction{cmd: strings.ToUpper(cmd), args: args, line: line}
	if ins.cmd == "FROM" {
		f := strings.Fields(args)
		for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
			f = f[1:]
		}
		s := &stage{line: line}
		switch {
		case len(f) == 1:
			s.image = f[0]
		case len(f) == 3 && strings.EqualFold(f[1], "AS"):
			s.image, s.name = f[0], f[2]
		default:
			return fmt.Errorf("%s:%d: FROM %s: want FROM image [AS name]", df.path, line, args)
		}
		df.stages = append(df.stages, s)
		return nil
	}
	if len(df.stages) == 0 {
		if ins.cmd == "ARG" {
			return nil
		}
		return fmt.Errorf("%s:%d: %s before the first FROM", df.path, line, ins.cmd)
	}
	s := df.stages[len(df.stages)-1]
	s.ins = append(s.ins, ins)
	return nil
}

// final is the stage the image is made of.
func (df *dockerfile) final() *stage { return df.stages[len(df.stages)-1] }

func (df *dockerfile) stage(name string) *stage {
	for _, s := range df.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// all returns a stage's instructions of one kind, in order.
func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns a stage's last instruction of one kind; ok is false if it
// has none.
func (s *stage) last(cmd string) (in instruction, ok bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// execForm decodes the JSON form of ENTRYPOINT, CMD and RUN; ok is false
// for the shell form.
func execForm(args string) (argv []string, ok bool) {
	return argv, json.Unmarshal([]byte(args), &argv) == nil
}

// copyArgs splits COPY arguments into flags (--from=build), sources and
// the destination.
func copyArgs(args string) (flags map[string]string, srcs []string, dst string) {
	flags = map[string]string{}
	f := strings.Fields(args)
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		name, value, _ := strings.Cut(strings.TrimPrefix(f[0], "--"), "=")
		flags[name] = value
		f = f[1:]
	}
	if len(f) < 2 {
		return flags, nil, ""
	}
	return flags, f[:len(f)-1], f[len(f)-1]
}

// envPairs decodes ENV key=value pairs (values without spaces or quotes,
// as in the shipped files).
func envPairs(args string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Fields(args) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// pinned says why an image reference is not pinned to a version: a
// reference must carry a digest, or a tag other than latest that names a
// version (a digit in the tag or the image name: static-debian12:nonroot,
// debian:12.11-slim; not debian:bookworm-slim).
func pinned(ref string) error {
	if strings.Contains(ref, "$") {
		return fmt.Errorf("%s: the image is a variable, not a literal reference", ref)
	}
	if strings.Contains(ref, "@sha256:") {
		return nil
	}
	name, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	switch {
	case tag == "":
		return fmt.Errorf("%s has no tag (it means latest)", ref)
	case tag == "latest":
		return fmt.Errorf("%s is not pinned", ref)
	case !strings.ContainsAny(path.Base(name)+tag, "0123456789"):
		return fmt.Errorf("%s: the tag %q names no version", ref, tag)
	}
	return nil
}

// A builder is the stage that compiles authprobe.
type builder struct {
	stage  *stage
	run    instruction // RUN ... go build ...
	output string      // -o, relative to the build context
	path   string      // where the binary is in the stage
}

// builder finds the stage and the RUN instruction that build authprobe.
func (df *dockerfile) builder() (*builder, error) {
	for _, s := range df.stages[:len(df.stages)-1] {
		for _, in := range s.all("RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			m := regexp.MustCompile(`(?:^|\s)-o\s+(\S+)`).FindStringSubmatch(in.args)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: the go build has no -o", df.path, in.line)
			}
			if path.IsAbs(m[1]) {
				return nil, fmt.Errorf("%s:%d: -o %s: build into the context directory (a relative path), as the tests do", df.path, in.line, m[1])
			}
			wd := "/"
			for _, w := range s.all("WORKDIR") {
				if w.line < in.line {
					wd = path.Join(wd, w.args)
				}
			}
			return &builder{stage: s, run: in, output: m[1], path: path.Join(wd, m[1])}, nil
		}
	}
	return nil, fmt.Errorf("%s: no build stage runs go build", df.path)
}

// TestDockerfiles checks what makes the images small, safe and
// identifiable, statically: multi-stage, pinned bases, a non-root user,
// the version and commit stamped by -ldflags, port 9741, the entry point
// and its default command, and a build context that holds every COPY
// source. Dockerfile.browser adds Chromium and tini as PID 1.
func TestDockerfiles(t *testing.T) {
	ignore := dockerignore(t)
	var builds []string
	for _, tc := range []struct {
		file       string
		entrypoint []string
		user       string
	}{
		{"Dockerfile", []string{"/usr/local/bin/authprobe"}, "65532:65532"},
		{"Dockerfile.browser", []string{"/usr/bin/tini", "--", "/usr/local/bin/authprobe"}, "65532:65532"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			df, err := readDockerfile(repo("deploy/docker/" + tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(df.stages) < 2 {
				t.Fatalf("%d stage: want a build stage and a runtime stage", len(df.stages))
			}
			for _, s := range df.stages {
				if df.stage(s.image) != nil {
					continue // FROM an earlier stage
				}
				if err := pinned(s.image); err != nil {
					t.Errorf("line %d: %v", s.line, err)
				}
			}

			b, err := df.builder()
			if err != nil {
				t.Fatal(err)
			}
			build := []string{"FROM " + b.stage.image}
			for _, in := range b.stage.ins {
				build = append(build, in.cmd+" "+in.args)
			}
			builds = append(builds, strings.Join(build, "\n"))
			for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath ", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", " ./cmd/authprobe"} {
				if !strings.Contains(b.run.args, want) {
					t.Errorf("line %d: the go build lacks %q: %s", b.run.line, want, b.run.args)
				}
			}
			// ARGs reach RUN only when the stage declares them, before it.
			for _, arg := range []string{"VERSION", "COMMIT"} {
				if !slices.ContainsFunc(b.stage.all("ARG"), func(in instruction) bool {
					name, _, _ := strings.Cut(in.args, "=")
					return name == arg && in.line < b.run.line
				}) {
					t.Errorf("the build stage does not declare ARG %s before the go build", arg)
				}
			}

			final := df.final()
			if final == b.stage {
				t.Fatal("the image is the build stage")
			}
			user, ok := final.last("USER")
			if !ok {
				t.Fatal("the image runs as root: no USER")
			}
			uid, _, _ := strings.Cut(user.args, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				// Kubernetes' runAsNonRoot can only verify a numeric user.
				t.Errorf("USER %s: want a numeric uid other than 0", user.args)
			}
			if user.args != tc.user {
				t.Errorf("USER %s, want %s", user.args, tc.user)
			}
			if !slices.ContainsFunc(final.all("EXPOSE"), func(in instruction) bool { return slices.Contains(strings.Fields(in.args), "9741") }) {
				t.Error("no EXPOSE 9741")
			}
			entry, ok := final.last("ENTRYPOINT")
			if argv, isExec := execForm(entry.args); !ok || !isExec || !slices.Equal(argv, tc.entrypoint) {
				t.Errorf("ENTRYPOINT %s, want %q in exec form", entry.args, tc.entrypoint)
			}
			cmd, ok := final.last("CMD")
			if argv, isExec := execForm(cmd.args); !ok || !isExec || !slices.Equal(argv, []string{"run", "--config", "/etc/authprobe/authprobe.yaml"}) {
				t.Errorf(`CMD %s, want ["run", "--config", "/etc/authprobe/authprobe.yaml"]`, cmd.args)
			}

			// The binary comes from the build stage, to where ENTRYPOINT runs it.
			binary := tc.entrypoint[len(tc.entrypoint)-1]
			copied := false
			for _, in := range df.stages[len(df.stages)-1].all("COPY") {
				flags, srcs, dst := copyArgs(in.args)
				if from, ok := flags["from"]; ok {
					if df.stage(from) == nil {
						t.Errorf("line %d: COPY --from=%s: no such stage", in.line, from)
					}
					copied = copied || from == b.stage.name && slices.Equal(srcs, []string{b.path}) && dst == binary
				}
			}
			if !copied {
				t.Errorf("the image has no COPY --from=%s %s %s", b.stage.name, b.path, binary)
			}

			// Every source copied from the context is there, and not ignored.
			for _, s := range df.stages {
				for _, in := range s.all("COPY") {
					flags, srcs, _ := copyArgs(in.args)
					if _, ok := flags["from"]; ok {
						continue
					}
					if len(srcs) == 0 {
						t.Errorf("line %d: COPY %s: no source", in.line, in.args)
					}
					for _, src := range srcs {
						rel := path.Clean(src)
						if _, err := os.Stat(repo(rel)); err != nil {
							t.Errorf("line %d: COPY %s: not in the build context: %v", in.line, src, err)
						}
						if rel != "." && ignored(t, ignore, rel) {
							t.Errorf("line %d: COPY %s: .dockerignore excludes it", in.line, src)
						}
					}
				}
			}

			// AUTHPROBE_* variables are settings authprobe reads.
			settings := settingEnv(t)
			for _, in := range final.all("ENV") {
				for k := range envPairs(in.args) {
					if strings.HasPrefix(k, "AUTHPROBE_") && !settings[k] {
						t.Errorf("line %d: ENV %s: authprobe has no such setting", in.line, k)
					}
				}
			}
		})
	}
	// One binary, two images.
	if len(builds) == 2 && builds[0] != builds[1] {
		t.Errorf("the build stages of Dockerfile and Dockerfile.browser differ:\n%s\n%s", builds[0], builds[1])
	}
}

// TestDockerfileBrowser checks the browser image: Debian's Chromium and
// headless shell, tini as PID 1, and --browser.path set through
// AUTHPROBE_BROWSER_PATH to a file of the chromium package.
func TestDockerfileBrowser(t *testing.T) {
	df, err := readDockerfile(repo("deploy/docker/Dockerfile.browser"))
	if err != nil {
		t.Fatal(err)
	}
	final := df.final()
	var installed []string
	for _, in := range final.all("RUN") {
		_, after, ok := strings.Cut(in.args, "apt-get install")
		if !ok {
			continue
		}
		cmd, _, _ := strings.Cut(after, "&&")
		for _, f := range strings.Fields(cmd) {
			if !strings.HasPrefix(f, "-") {
				installed = append(installed, f)
			}
		}
		if !strings.Contains(in.args, "--no-install-recommends") || !strings.Contains(in.args, "rm -rf /var/lib/apt/lists") {
			t.Errorf("line %d: install with --no-install-recommends and remove the package lists in the same layer", in.line)
		}
	}
	for _, want := range []string{"chromium", "chromium-headless-shell", "tini", "ca-certificates"} {
		if !slices.Contains(installed, want) {
			t.Errorf("the image does not install %s (installs %q)", want, installed)
		}
	}
	var browser string
	for _, in := range final.all("ENV") {
		if v, ok := envPairs(in.args)["AUTHPROBE_BROWSER_PATH"]; ok {
			browser = v
		}
	}
	if browser != "/usr/bin/chromium" {
		t.Errorf("AUTHPROBE_BROWSER_PATH=%q, want /usr/bin/chromium", browser)
	}
	// The paths the image and its comments name belong to the packages it
	// installs (this machine is Debian 12 too, with the same packages).
	dpkg := tool(t, "dpkg-query", "dpkg")
	for file, pkg := range map[string]string{"/usr/bin/chromium": "chromium", "/usr/lib/chromium/chromium-headless-shell": "chromium-headless-shell"} {
		out, err := exec.Command(dpkg, "-S", file).CombinedOutput()
		if err != nil {
			msg := fmt.Sprintf("dpkg-query -S %s: %v %s(apt-get install %s)", file, err, out, pkg)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		if got, _, _ := strings.Cut(string(out), ":"); got != pkg {
			t.Errorf("%s belongs to %s, want %s", file, got, pkg)
		}
	}
	if b, err := os.ReadFile(repo("deploy/docker/Dockerfile.browser")); err != nil || !strings.Contains(string(b), "AUTHPROBE_BROWSER_PATH=/usr/lib/chromium/chromium-headless-shell") {
		t.Error("Dockerfile.browser does not say how to use the headless shell")
	}
}

// TestDockerBuild builds authprobe the way the Dockerfiles do: the
// repository filtered by .dockerignore, then the build stage's RUN with
// VERSION and COMMIT set. The binary must be static (it runs on distroless
// without a libc), reproducible (-trimpath), and report the stamped
// version and commit.
func TestDockerBuild(t *testing.T) {
	bin := authprobe(t)
	out := run(t, "", nil, bin, "version")
	if want := fmt.Sprintf("authprobe %s (commit %s, ", stampVersion, stampCommit); !strings.HasPrefix(out, want) {
		t.Errorf("authprobe version: %q, want %q...", out, want)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (it has an ELF interpreter); distroless/static has no libc")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %q", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["-trimpath"] != "true" || settings["CGO_ENABLED"] != "0" {
		t.Errorf("build settings -trimpath=%q CGO_ENABLED=%q, want true and 0", settings["-trimpath"], settings["CGO_ENABLED"])
	}
}

// TestDockerignore checks that the build context leaves out the
// repository's history, local builds and the IdP's node_modules.
func TestDockerignore(t *testing.T) {
	pm := dockerignore(t)
	for _, p := range []string{".git", ".git/config", "bin", "bin/authprobe", "test/idp/node_modules", "test/idp/node_modules/oidc-provider/package.json", "exporter/exporter.test", "cpu.prof"} {
		if !ignored(t, pm, p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/authprobe/main.go", "exporter/status.html"} {
		if ignored(t, pm, p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}

func dockerignore(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(repo(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// ignored reports whether Docker leaves rel (slash-separated, relative to
// the context) out of the build context.
func ignored(t *testing.T, pm *patternmatcher.PatternMatcher, rel string) bool {
	t.Helper()
	ok, err := pm.MatchesOrParentMatches(rel)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// copyContext copies the build context that `docker build .` sends from
// the repository to dst: every file .dockerignore does not exclude.
func copyContext(dst string) error {
	f, err := os.Open(repo(".dockerignore"))
	if err != nil {
		return err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, file)
		if err != nil || rel == "." {
			return err
		}
		skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if skip {
			// Exclusions (!pattern) may bring back files below an excluded
			// directory, so Docker walks it then.
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		err = copyEntry(file, filepath.Join(dst, rel), d)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walked: another build's temp file
		}
		return err
	})
}
