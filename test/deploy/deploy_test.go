// Package deploy checks the deployment files without running them where
// this machine cannot: the Dockerfiles, .dockerignore and the local stack
// of deploy/docker (no Docker engine runs here), and the systemd unit of
// deploy/systemd (systemd is not PID 1 here). What can run does: the
// binary is built from the build context Docker would send, with the
// Dockerfile's own command; the configs the stack mounts are checked by
// promtool, amtool and authprobe itself; the unit by systemd-analyze.
package deploy

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/authprobe/authprobe/internal/testtool"
)

// The version and commit the tests stamp into the binary, as
// `docker build --build-arg VERSION=... --build-arg COMMIT=...` does.
const (
	stampVersion = "v0.0.0-deploy-test"
	stampCommit  = "0123abc"
)

// root is the repository, the build context of the Dockerfiles.
var root = func() string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return dir
}()

// scratch holds the build context and the binary built from it.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authprobe-deploy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repo is the path of a repository file, given with slashes.
func repo(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

// tool finds a program the tests need. Outside CI a missing one skips the
// test and says why; with CI=true it fails (.ci/run installs them).
func tool(t *testing.T, name, pkg string) string {
	return testtool.Require(t, name, pkg)
}

// run runs a program in dir and returns its standard output and error
// together; a non-zero exit fails the test.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// authprobe is the binary the images ship: built by built() from the
// Docker build context with the Dockerfile's command.
func authprobe(t *testing.T) string {
	t.Helper()
	bin, err := built()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var built = sync.OnceValues(func() (string, error) {
	df, err := readDockerfile(repo("deploy/docker/Dockerfile"))
	if err != nil {
		return "", err
	}
	b, err := df.builder()
	if err != nil {
		return "", err
	}
	ctx := filepath.Join(scratch, "context")
	if err := copyContext(ctx); err != nil {
		return "", err
	}
	// RUN executes with /bin/sh -c, the ARGs in its environment.
	cmd := exec.Command("sh", "-c", b.run.args)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "VERSION="+stampVersion, "COMMIT="+stampCommit)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("the Dockerfile's build (RUN %s, line %d) fails on the build context: %v\n%s", b.run.args, b.run.line, err, out)
	}
	return filepath.Join(ctx, filepath.FromSlash(b.output)), nil
})

// settingEnv are the environment variables authprobe reads: AUTHPROBE_ and
// the name of a command-line flag, upper case, dots and dashes as
// underscores (viper's AutomaticEnv in cmd/authprobe).
func settingEnv(t *testing.T) map[string]bool {
	t.Helper()
	help := run(t, "", nil, authprobe(t), "run", "--help") + run(t, "", nil, authprobe(t), "demo", "--help")
	env := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z0-9.-]*)`).FindAllStringSubmatch(help, -1) {
		env["AUTHPROBE_"+strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(m[1]))] = true
	}
	if !env["AUTHPROBE_CONFIG"] || !env["AUTHPROBE_BROWSER_PATH"] {
		t.Fatalf("no flags found in authprobe run --help:\n%s", help)
	}
	return env
}

// envAssignments are the NAME=value lines of an environment file, commented
// out ones included (they are examples to uncomment).
func envAssignments(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	assign := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=(.*)$`)
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := assign.FindStringSubmatch(strings.TrimSpace(s.Text())); m != nil {
			out[m[1]] = m[2]
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// copyTree copies a file, or a directory with everything in it, to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		return copyEntry(path, filepath.Join(dst, rel), d)
	})
}

// copyEntry copies one directory (without its contents), file or symlink.
func copyEntry(src, dst string, d fs.DirEntry) error {
	switch {
	case d.IsDir():
		return os.MkdirAll(dst, 0o755)
	case d.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	info, err := d.Info()
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
