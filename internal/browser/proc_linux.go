//go:build linux

package browser

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// sweepLimit bounds the wait for a killed browser's processes to go.
	// SIGKILL cannot be ignored, so they normally go within milliseconds.
	sweepLimit = 5 * time.Second
	sweepPause = 10 * time.Millisecond
)

// setProcAttr starts Chromium in a process group of its own, so that one kill
// reaches its zygotes, renderers and utility processes. It keeps chromedp's
// Pdeathsig, so the browser still dies with this process. chromedp starts
// the browser from a goroutine locked to its thread, which Pdeathsig needs.
func setProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// killGroup sends SIGKILL to the process group pgid. It refuses the groups
// that would reach far beyond one browser.
func killGroup(pgid int) {
	if pgid <= 1 || pgid == syscall.Getpgrp() {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// BecomeSubreaper makes this process the child subreaper of its descendants
// (prctl PR_SET_CHILD_SUBREAPER). The processes that a killed browser leaves
// behind (its zygotes, utility processes, crash handlers, which double-fork)
// are then reparented to us, where Reap collects them, and not to the host's
// init, where they may stay zombies. main calls it once at start-up.
//
// In a container the image should still run an init (tini, docker run --init)
// as PID 1: Reap only collects Chromium's processes, and a subreaper keeps
// the zombies of other orphans too.
func BecomeSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("browser: prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}

// groups holds the process groups of the browsers this process started, so
// that Reap knows their zombies are ours to collect.
var groups = struct {
	sync.Mutex
	m map[int]int
}{m: map[int]int{}}

func registerGroup(pgid int) {
	groups.Lock()
	defer groups.Unlock()
	groups.m[pgid]++
}

func unregisterGroup(pgid int) {
	groups.Lock()
	defer groups.Unlock()
	if groups.m[pgid]--; groups.m[pgid] <= 0 {
		delete(groups.m, pgid)
	}
}

func ownedGroup(pgid int) bool {
	groups.Lock()
	defer groups.Unlock()
	return groups.m[pgid] > 0
}

// Reap collects the zombie children of this process that Chromium left: the
// zombies in the process group of a browser of ours, or named like a Chromium
// process. It waits for each by its pid (never wait4(-1)), and it skips group
// leaders: every browser it started leads its group, and os/exec waits for
// those; stealing their exit status would break cmd.Wait. Zombies of other
// children are left alone for the same reason. The pool calls it after it
// kills a browser group.
func Reap() {
	self := os.Getpid()
	for _, pr := range readProcs() {
		if pr.state != 'Z' || pr.ppid != self || pr.pid == pr.pgrp {
			continue
		}
		if !ownedGroup(pr.pgrp) && !chromiumName(pr.comm) {
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pr.pid, &ws, syscall.WNOHANG, nil)
	}
}

// chromiumName reports whether comm (at most 15 bytes) names a Chromium
// process, for zombies that left the group, such as crash handlers.
func chromiumName(comm string) bool {
	return strings.HasPrefix(comm, "chrom") || strings.HasPrefix(comm, "headless")
}

// proc is what /proc/<pid>/stat tells about one process.
type proc struct {
	pid, ppid, pgrp int
	state           byte
	comm            string
	rss             int64 // bytes
}

// readProcs lists the processes of the system. A process that exits while it
// is read is skipped.
func readProcs() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	procs := make([]proc, 0, len(entries))
	page := int64(os.Getpagesize())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		pr, ok := parseStat(pid, data, page)
		if ok {
			procs = append(procs, pr)
		}
	}
	return procs
}

// parseStat parses /proc/<pid>/stat. The command name is in parentheses and
// may hold spaces and parentheses itself, so the fields start after the last
// ')'.
func parseStat(pid int, data []byte, page int64) (proc, bool) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open || end+2 > len(data) {
		return proc{}, false
	}
	f := strings.Fields(string(data[end+2:]))
	// f[0] is field 3 of proc(5): state, ppid, pgrp, … rss is field 24.
	if len(f) < 22 || len(f[0]) != 1 {
		return proc{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	rss, err3 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return proc{}, false
	}
	return proc{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], comm: string(data[open+1 : end]), rss: rss * page}, true
}

// groupRSS sums the resident memory of the live processes of group pgid. It
// counts pages that the processes share once per process, like every RSS sum.
func groupRSS(procs []proc, pgid int) int64 {
	if pgid <= 0 {
		return 0
	}
	var sum int64
	for _, pr := range procs {
		if pr.pgrp == pgid && pr.state != 'Z' {
			sum += pr.rss
		}
	}
	return sum
}

// usesDir reports whether the command line of pid names dir or a path inside
// it, as --user-data-dir and the crash handlers' --database do.
func usesDir(pid int, dir string) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	for arg := range bytes.SplitSeq(data, []byte{0}) {
		s := string(arg)
		if strings.HasSuffix(s, dir) || strings.Contains(s, dir+"/") {
			return true
		}
	}
	return false
}

// sweep kills the processes of group pgid (if > 0) and those that use dir, and
// reaps our zombies among them, until none is left or sweepLimit passes. It
// returns how many were left.
func sweep(pgid int, dir string) int {
	if dir == "" || dir == "/" {
		return 0
	}
	self := os.Getpid()
	deadline := time.Now().Add(sweepLimit)
	for {
		left := 0
		for _, pr := range readProcs() {
			if pr.pid == self {
				continue
			}
			inGroup := pgid > 0 && pr.pgrp == pgid
			if pr.state == 'Z' {
				// A zombie has no command line; one of ours counts until
				// Reap below has collected it. Another parent's is not
				// ours to wait for.
				if pr.ppid == self && (inGroup || chromiumName(pr.comm)) {
					left++
				}
				continue
			}
			if inGroup || usesDir(pr.pid, dir) {
				_ = syscall.Kill(pr.pid, syscall.SIGKILL)
				left++
			}
		}
		Reap()
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(sweepPause)
	}
}
