// Package testtool finds the programs from Debian packages that tests run
// (promtool, amtool, prometheus, systemd-analyze, …).
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of program name. When it is missing the test
// fails in CI (CI=true: .ci/run installs every package the tests need) and
// is skipped elsewhere, with the command that installs pkg.
func Require(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed; run: apt-get install " + pkg
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}
