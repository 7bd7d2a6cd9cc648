package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat. It is
// read once at start-up, before any window: getconf is a child of ours, and
// a child that exits inside a window would count in RUSAGE_CHILDREN.
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || v <= 0 {
		return 100
	}
	return v
}()

var pageSize = int64(os.Getpagesize())

// proc is what /proc/PID/stat tells about one process.
type proc struct {
	pid, ppid  int
	state      byte
	comm       string
	ticks      int64 // utime + stime, its own CPU
	childTicks int64 // cutime + cstime: the children it has waited for
	rss        int64 // bytes; the same figure as VmRSS in /proc/PID/status
}

// readProcs lists every process of the system. One that exits while it is
// read is skipped.
func readProcs() map[int]proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	procs := make(map[int]proc, len(entries))
	var buf [1024]byte
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		n, _ := f.Read(buf[:])
		f.Close()
		if pr, ok := parseStat(pid, buf[:n]); ok {
			procs[pid] = pr
		}
	}
	return procs
}

// parseStat parses /proc/PID/stat. The command name is in parentheses and
// may hold anything, so the fields are counted from the last ')'.
func parseStat(pid int, data []byte) (proc, bool) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open || end+2 > len(data) {
		return proc{}, false
	}
	f := strings.Fields(string(data[end+2:]))
	// f[0] is field 3 of proc(5), state; ppid 4, utime 14, stime 15,
	// cutime 16, cstime 17, rss 24.
	if len(f) < 22 || len(f[0]) != 1 {
		return proc{}, false
	}
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return proc{
		pid:        pid,
		ppid:       int(num(1)),
		state:      f[0][0],
		comm:       string(data[open+1 : end]),
		ticks:      num(11) + num(12),
		childTicks: num(13) + num(14),
		rss:        num(21) * pageSize,
	}, true
}

// descendants returns the processes below root, skipping the subtree of
// exclude (the realm, whose CPU and memory are the target's).
func descendants(procs map[int]proc, root, exclude int) []proc {
	kids := make(map[int][]int, len(procs))
	for _, pr := range procs {
		kids[pr.ppid] = append(kids[pr.ppid], pr.pid)
	}
	var out []proc
	stack := []int{root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range kids[p] {
			if c == exclude {
				continue
			}
			out = append(out, procs[c])
			stack = append(stack, c)
		}
	}
	return out
}

// pss reads Pss from /proc/PID/smaps_rollup, in bytes; 0 when it cannot.
func pss(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Process types that are not Chromium's own.
const (
	typeWrapper = "launcher: /usr/bin/chromium script"
	typeHelpers = "launcher: its grep, findmnt, expr…"
	typeGone    = "exited before first seen"
	typeMain    = "browser (main)"
)

// procType names a Chromium process by its --type (and utility sub-type),
// "browser (main)" for the main process. Debian's /usr/bin/chromium is a
// shell script that runs a few commands and then execs the browser in the
// same process.
func procType(pid int, comm string) string {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(data) == 0 || exe == "" {
		return typeGone
	}
	switch {
	case strings.Contains(exe, "crashpad"):
		return "crashpad handler"
	case !strings.HasPrefix(filepath.Base(exe), "chrom"):
		if comm == "chromium" {
			return typeWrapper
		}
		return typeHelpers
	}
	// Processes forked by the zygote rewrite their command line as one
	// string (setproctitle), so the arguments are split on spaces too.
	typ, sub := "", ""
	for _, s := range strings.Fields(strings.ReplaceAll(string(data), "\x00", " ")) {
		if v, ok := strings.CutPrefix(s, "--type="); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(s, "--utility-sub-type="); ok {
			sub = v
		}
	}
	switch {
	case typ == "":
		return typeMain
	case typ == "utility" && sub != "":
		// network.mojom.NetworkService → NetworkService
		if i := strings.LastIndexByte(sub, '.'); i >= 0 {
			sub = sub[i+1:]
		}
		return "utility: " + sub
	}
	return typ
}

// rusageCPU is the CPU time, user plus system, of this process (all its
// threads, live and gone) and of its children that have ended and been
// waited for, with what they had waited for in turn.
func rusageCPU() (self, children float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = tv(ru.Utime) + tv(ru.Stime)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	children = tv(ru.Utime) + tv(ru.Stime)
	return self, children
}

// threadCPU is the CPU time of the calling thread; the caller must be
// locked to it (runtime.LockOSThread).
func threadCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// machineCPU is the aggregate line of /proc/stat, in clock ticks.
type machineCPU struct{ busy, all float64 }

func readMachineCPU() machineCPU {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	fields := strings.Fields(string(line))
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineCPU{}
	}
	var v [8]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(fields[i+1], 64)
	}
	// user nice system idle iowait irq softirq steal
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return machineCPU{busy: busy, all: busy + v[3] + v[4]}
}

// busyShare is how busy both CPUs were between a and b, 0..1.
func busyShare(a, b machineCPU) float64 {
	if b.all <= a.all {
		return 0
	}
	return (b.busy - a.busy) / (b.all - a.all)
}

// memSample is one reading of the process tree.
type memSample struct {
	rss, chromiumRSS, selfRSS, pss int64
	procs                          int
	browsers                       int // main browser processes
}

// sampler reads the memory of this process and its descendants (less the
// realm's subtree) every period, keeps the peaks, and notes each Chromium
// process's own CPU time as last seen, by process type. It runs on a
// thread of its own so that its CPU can be read and taken out of the
// window's.
type sampler struct {
	period   time.Duration
	pssEvery time.Duration // 0: no PSS
	exclude  int

	stop chan struct{}
	done chan samplerResult
}

type samplerResult struct {
	samples    int
	pssSamples int
	peak       memSample // each field its own peak
	// browsersAtPeak is how many browsers ran at the RSS peak: a recycled
	// browser finishes its tabs while its replacement starts.
	browsersAtPeak int
	// peakOneBrowser is the peak RSS of the samples with at most one
	// browser running.
	peakOneBrowser int64
	threadCPU      float64 // seconds the sampler itself used
	byType         map[string]float64
	procsSeen      int
}

func startSampler(period, pssEvery time.Duration, exclude int) *sampler {
	s := &sampler{period: period, pssEvery: pssEvery, exclude: exclude, stop: make(chan struct{}), done: make(chan samplerResult, 1)}
	go s.run()
	return s
}

func (s *sampler) run() {
	// The thread runs nothing else while locked, so its CPU time between
	// the two readings is the sampler's. It is unlocked at the end rather
	// than left to exit with the goroutine: a thread that exits sends the
	// Pdeathsig of every child it started, and this one may have started
	// the realm.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	self := os.Getpid()
	type seen struct {
		typ   string
		ticks int64
	}
	pids := map[int]*seen{}
	var r samplerResult
	var lastPSS time.Time
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		// PSS walks every mapping of every process (about 10 ms for a
		// browser's dozen processes here), so it is read less often.
		withPSS := s.pssEvery > 0 && time.Since(lastPSS) >= s.pssEvery-s.period/2
		if withPSS {
			lastPSS = time.Now()
			r.pssSamples++
		}
		procs := readProcs()
		var m memSample
		if me, ok := procs[self]; ok {
			m.selfRSS = me.rss
			m.rss = me.rss
			if withPSS {
				m.pss = pss(self)
			}
		}
		for _, pr := range descendants(procs, self, s.exclude) {
			if pr.state == 'Z' {
				continue
			}
			m.procs++
			m.rss += pr.rss
			m.chromiumRSS += pr.rss
			if withPSS {
				m.pss += pss(pr.pid)
			}
			sn := pids[pr.pid]
			if sn == nil {
				sn = &seen{}
				pids[pr.pid] = sn
			}
			if sn.typ == "" || sn.typ == typeWrapper {
				// The wrapper script execs Chromium in the same process.
				sn.typ = procType(pr.pid, pr.comm)
			}
			sn.ticks = max(sn.ticks, pr.ticks)
			if sn.typ == typeMain {
				m.browsers++
			}
		}
		r.samples++
		if m.rss > r.peak.rss {
			r.browsersAtPeak = m.browsers
		}
		r.peak.rss = max(r.peak.rss, m.rss)
		if m.browsers <= 1 {
			r.peakOneBrowser = max(r.peakOneBrowser, m.rss)
		}
		r.peak.chromiumRSS = max(r.peak.chromiumRSS, m.chromiumRSS)
		r.peak.selfRSS = max(r.peak.selfRSS, m.selfRSS)
		r.peak.pss = max(r.peak.pss, m.pss)
		r.peak.procs = max(r.peak.procs, m.procs)
		select {
		case <-s.stop:
			r.byType = map[string]float64{}
			for _, sn := range pids {
				r.byType[sn.typ] += float64(sn.ticks) / clockTicks
			}
			r.procsSeen = len(pids)
			r.threadCPU = threadCPU() - cpu0
			s.done <- r
			return
		case <-t.C:
		}
	}
}

// finish stops the sampler and returns what it saw.
func (s *sampler) finish() samplerResult {
	close(s.stop)
	return <-s.done
}

// liveTreeCPU is the CPU time of the live (or not yet reaped) descendants
// of this process, each with the children it has reaped, less the realm.
func liveTreeCPU(exclude int) (seconds float64, n int) {
	var ticks int64
	for _, pr := range descendants(readProcs(), os.Getpid(), exclude) {
		ticks += pr.ticks + pr.childTicks
		n++
	}
	return float64(ticks) / clockTicks, n
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
