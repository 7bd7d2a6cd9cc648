//go:build !unix

package idp

import "os/exec"

func setProcessGroup(*exec.Cmd) {}

// signalGroup kills node; without process groups a graceful stop relies on
// node seeing its standard input close.
func signalGroup(cmd *exec.Cmd, kill bool) error {
	if !kill {
		return nil
	}
	return cmd.Process.Kill()
}
