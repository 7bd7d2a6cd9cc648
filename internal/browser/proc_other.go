//go:build !linux

package browser

import (
	"errors"
	"os/exec"
)

// The pool's process hygiene reads /proc and uses Linux process groups and
// prctl. Elsewhere it builds, so that the module compiles on a developer's
// laptop, but it does not clean up after Chromium.

func setProcAttr(*exec.Cmd) {}

func killGroup(int) {}

// BecomeSubreaper is supported on Linux only.
func BecomeSubreaper() error {
	return errors.New("browser: a child subreaper needs Linux")
}

// Reap does nothing outside Linux.
func Reap() {}

func registerGroup(int)   {}
func unregisterGroup(int) {}

type proc struct{}

func readProcs() []proc { return nil }

func groupRSS([]proc, int) int64 { return 0 }

func sweep(int, string) int { return 0 }
