package probes

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authprobe/authprobe/config"
)

// SeriesKey identifies one series of results: a journey for one variant
// against one target.
type SeriesKey struct {
	Journey, Variant, Target string
}

// Skip causes.
const (
	SkipOverlap     = "overlap"
	SkipConcurrency = "concurrency"
	// SkipBackoff is a due run of a series backing off because its
	// credentials were refused (see Backoff).
	SkipBackoff = "backoff"
)

// Backoff is a series' pause after its credentials were refused: identity
// providers lock an account after a few wrong passwords, and a prober
// retrying on schedule would keep its test account locked. After
// config.LockoutProtection.After runs of a series failed with
// invalid_credentials since its last success, each further refused run
// doubles the series' interval, up to MaxBackoff; due runs before Until are
// skipped with cause backoff. The first success, or a change to the
// journey, resumes the schedule.
type Backoff struct {
	// Failures counts the runs refused with invalid_credentials since the
	// series' last success.
	Failures int
	// Until is when the series runs next; zero when it does not back off.
	Until time.Time
	// Interval is the pause from the last refused run's scheduled start to
	// Until: the series' interval while it backs off.
	Interval time.Duration
}

// Scheduler runs journeys on their intervals. Each journey × variant ×
// target starts at a fixed offset within its interval, derived from its
// name, so restarts and reloads keep the schedule and many journeys spread
// evenly. A run never overlaps its predecessor, and at most MaxConcurrency
// runs are in flight; a run that cannot start is skipped and counted, never
// queued, so a slow target cannot build a backlog.
type Scheduler struct {
	env *Env

	// OnResult receives every finished run of a journey still configured.
	OnResult func(j *Journey, res Result)
	// OnSkip is called when a due run does not start.
	OnSkip func(j *Journey, key SeriesKey, cause string)
	// OnSeries is called when a series starts or stops existing: at Apply
	// for fixed targets, and as DNS fan-out finds or loses addresses.
	OnSeries func(j *Journey, key SeriesKey, added bool)
	// OnBackoff is called when a series starts or goes on backing off
	// (after the run that decided it was reported to OnResult), and with
	// a zero Backoff when it stops.
	OnBackoff func(j *Journey, key SeriesKey, b Backoff)

	mu      sync.Mutex
	loops   map[string]*loop
	queue   loopHeap
	running map[SeriesKey]*inflight
	lockout config.LockoutProtection
	backoff map[SeriesKey]*Backoff
	sem     chan struct{}
	wake    chan struct{}
	wg      sync.WaitGroup
}

// loop is one journey × variant × target (or × DNS fan-out) schedule.
type loop struct {
	id     string
	j      *Journey
	v      *Variant
	target string // fixed target ("" without fan-out); the name for DNS
	dns    bool
	// shard is the part of the config the scheduler ran when the loop was
	// made; a DNS fan-out runs the addresses it owns.
	shard  config.Shard
	offset time.Duration
	next   time.Time
	index  int
	// series are the series the loop currently feeds.
	series map[SeriesKey]bool
	ctx    context.Context
	cancel context.CancelFunc
}

// NewScheduler returns a scheduler with nothing to run; Apply gives it journeys.
func NewScheduler(env *Env) *Scheduler {
	return &Scheduler{
		env:     env,
		loops:   map[string]*loop{},
		running: map[SeriesKey]*inflight{},
		backoff: map[SeriesKey]*Backoff{},
		sem:     make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
	}
}

// SetLockoutProtection sets when series back off after refused
// credentials; the zero value turns backing off off. It applies from the
// next run that ends; call it before Apply on a reload.
func (s *Scheduler) SetLockoutProtection(p config.LockoutProtection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lockout = p
}

// Apply replaces the set of journeys. Loops of journeys whose fingerprint is
// unchanged keep running untouched; changed ones restart at the same
// offsets; removed and changed ones stop, and their in-flight runs are
// cancelled and not reported. Only the series of the env's shard run; a
// change of shard stops the ones it no longer owns and starts the new.
func (s *Scheduler) Apply(journeys []*Journey, maxConcurrency int) {
	shard := s.env.Shard()
	s.mu.Lock()
	if cap(s.sem) != maxConcurrency {
		// Runs in flight release into the semaphore they took from.
		s.sem = make(chan struct{}, maxConcurrency)
	}
	want := map[string]*loop{}
	for _, p := range Pairs(journeys, shard) {
		l := s.newLoop(p.Journey, p.Variant, p.Target, p.DNS, shard)
		want[l.id] = l
	}
	var events, resumed []event
	for id, old := range s.loops {
		nl, keep := want[id]
		if keep && nl.j.Fingerprint == old.j.Fingerprint && (!old.dns || old.shard == shard) {
			delete(want, id)
			continue
		}
		heap.Remove(&s.queue, old.index)
		delete(s.loops, id)
		old.cancel()
		// A changed journey may have new credentials: it runs on
		// schedule again.
		for k := range old.series {
			if b := s.backoff[k]; b != nil {
				delete(s.backoff, k)
				if keep && !b.Until.IsZero() && Owns(shard, k) {
					resumed = append(resumed, backoffEvent(nl.j, k, Backoff{}))
				}
			}
		}
		if !keep {
			for k := range old.series {
				events = append(events, seriesEvent(old.j, k, false))
			}
			continue
		}
		// Same series, new settings: carry the series over so they are
		// neither deleted nor re-created; those of a DNS fan-out's
		// addresses another shard now owns go.
		for k := range old.series {
			owned := Owns(shard, k)
			if owned {
				nl.series[k] = true
			}
			events = append(events, seriesEvent(nl.j, k, owned))
		}
	}
	now := time.Now()
	for id, l := range want {
		l.next = nextTick(now, l.j.Interval, l.offset)
		if !l.dns && len(l.series) == 0 {
			k := SeriesKey{l.j.Name, l.v.Name, l.target}
			l.series[k] = true
			events = append(events, seriesEvent(l.j, k, true))
		}
		s.loops[id] = l
		heap.Push(&s.queue, l)
	}
	s.mu.Unlock()
	s.emit(append(events, resumed...))
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// event is a callback decided under s.mu and made after it is released,
// so a callback can never deadlock the scheduler: a series that appeared
// or went, or a skipped run.
type event struct {
	j       *Journey
	key     SeriesKey
	added   bool     // series events
	skip    string   // skip events: the cause
	backoff *Backoff // backoff events
}

func seriesEvent(j *Journey, key SeriesKey, added bool) event {
	return event{j: j, key: key, added: added}
}

func skipEvent(j *Journey, key SeriesKey, cause string) event {
	return event{j: j, key: key, skip: cause}
}

func backoffEvent(j *Journey, key SeriesKey, b Backoff) event {
	return event{j: j, key: key, backoff: &b}
}

func (s *Scheduler) emit(events []event) {
	for _, e := range events {
		switch {
		case e.backoff != nil:
			if s.OnBackoff != nil {
				s.OnBackoff(e.j, e.key, *e.backoff)
			}
		case e.skip != "" && s.OnSkip != nil:
			s.OnSkip(e.j, e.key, e.skip)
		case e.skip == "" && s.OnSeries != nil:
			s.OnSeries(e.j, e.key, e.added)
		}
	}
}

func (s *Scheduler) newLoop(j *Journey, v *Variant, target string, dns bool, shard config.Shard) *loop {
	id := j.Name + "\x00" + v.Name + "\x00" + target
	ctx, cancel := context.WithCancel(context.Background())
	return &loop{id: id, j: j, v: v, target: target, dns: dns, shard: shard,
		offset: Offset(id, j.Interval), series: map[SeriesKey]bool{}, ctx: ctx, cancel: cancel}
}

// Offset is where in each interval a loop starts: a hash of its identity,
// so it is the same on every restart and replica, and loops spread evenly.
func Offset(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextTick returns the first start after now for an interval and offset;
// starts are at offset + k×interval since the Unix epoch.
func nextTick(now time.Time, interval, offset time.Duration) time.Time {
	base := now.UnixNano() - int64(offset)
	k := base/int64(interval) + 1
	return time.Unix(0, k*int64(interval)+int64(offset))
}

// Run dispatches due runs until ctx is done, then waits for runs in flight
// to end; they end promptly because they share ctx.
func (s *Scheduler) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var skips []event
		s.mu.Lock()
		now := time.Now()
		for s.queue.Len() > 0 && !s.queue[0].next.After(now) {
			l := s.queue[0]
			s.dispatch(ctx, l, l.next, &skips)
			l.next = l.next.Add(l.j.Interval)
			if !l.next.After(now) {
				// The dispatcher fell a whole interval behind (a suspended
				// process); skip to the next slot rather than bursting.
				l.next = nextTick(now, l.j.Interval, l.offset)
			}
			heap.Fix(&s.queue, 0)
		}
		wait := time.Hour
		if s.queue.Len() > 0 {
			wait = time.Until(s.queue[0].next)
		}
		s.mu.Unlock()
		s.emit(skips)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, l := range s.loops {
				l.cancel()
			}
			s.mu.Unlock()
			s.wg.Wait()
			return
		case <-timer.C:
		case <-s.wake:
		}
	}
}

// handoverGrace is how long after its due time a run handed over by a
// predecessor that was ending may still start. A run that honours its
// deadline ends within milliseconds of it.
const handoverGrace = 250 * time.Millisecond

// inflight is a run in progress.
type inflight struct {
	deadline time.Time
	// next is set when the following run came due while this one was
	// ending; it starts as soon as this one has.
	next *handover
}

type handover struct {
	ctx context.Context
	l   *loop
	due time.Time
}

// dispatch starts the runs of a loop that are due. It holds s.mu.
func (s *Scheduler) dispatch(ctx context.Context, l *loop, due time.Time, skips *[]event) {
	if !l.dns {
		s.start(ctx, l, l.target, due, skips)
		return
	}
	// Resolving is part of each run's time: lookup and runs share the
	// deadline due + timeout. The loop's runs start when it is done.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rctx, release := l.context(ctx, due.Add(l.j.Timeout))
		targets, res := resolveTargets(rctx, s.env, l.j, l.v, due)
		release()
		dnsKey := SeriesKey{l.j.Name, l.v.Name, l.target}
		// The shard that owns the DNS name's series reports a failed lookup.
		reports := res != nil && Owns(l.shard, dnsKey)
		targets = OwnedTargets(l.shard, l.j, l.v, targets)
		s.mu.Lock()
		if l.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		var events []event
		if res != nil {
			// The addresses are unknown now: their series go, on every
			// shard. Kept, they would freeze with their last result — a
			// success to the hard-down rule, a stalled journey to the
			// stalled rule — while the name does not resolve.
			keep := map[SeriesKey]bool{}
			if reports {
				keep[dnsKey] = true
				if !l.series[dnsKey] {
					events = append(events, seriesEvent(l.j, dnsKey, true))
				}
			}
			for k := range l.series {
				if !keep[k] {
					events = append(events, seriesEvent(l.j, k, false))
					delete(s.backoff, k)
				}
			}
			l.series = keep
		} else {
			// The series of the DNS name itself, once a lookup failed,
			// stays as long as the loop so its failures keep counting.
			keep := map[SeriesKey]bool{}
			if l.series[dnsKey] {
				keep[dnsKey] = true
			}
			for _, t := range targets {
				k := SeriesKey{l.j.Name, l.v.Name, t}
				keep[k] = true
				if !l.series[k] {
					events = append(events, seriesEvent(l.j, k, true))
				}
			}
			for k := range l.series {
				if !keep[k] {
					events = append(events, seriesEvent(l.j, k, false))
					delete(s.backoff, k)
				}
			}
			l.series = keep
		}
		s.mu.Unlock()
		s.emit(events)
		if res != nil {
			if reports && s.OnResult != nil {
				s.OnResult(l.j, *res)
			}
			return
		}
		var skips []event
		s.mu.Lock()
		for _, t := range targets {
			s.start(ctx, l, t, due, &skips)
		}
		s.mu.Unlock()
		s.emit(skips)
	}()
}

// context returns a context that ends at deadline, with ctx, or when the
// loop is removed; release must be called when the work is done.
func (l *loop) context(ctx context.Context, deadline time.Time) (context.Context, func()) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	stop := context.AfterFunc(l.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// start begins one run unless it would overlap or exceed the concurrency
// limit. A run's deadline is due + timeout and timeout is at most the
// interval, so the previous run is at most finishing when the next comes
// due; then the next starts the moment it has. A previous run still inside
// its deadline (a step kind not honouring cancellation) means an overlap:
// skipped and counted. It holds s.mu.
func (s *Scheduler) start(ctx context.Context, l *loop, target string, due time.Time, skips *[]event) {
	key := SeriesKey{l.j.Name, l.v.Name, target}
	if b := s.backoff[key]; b != nil && due.Before(b.Until) {
		*skips = append(*skips, skipEvent(l.j, key, SkipBackoff))
		return
	}
	if f := s.running[key]; f != nil {
		if !f.deadline.After(due) && f.next == nil {
			f.next = &handover{ctx, l, due}
			return
		}
		*skips = append(*skips, skipEvent(l.j, key, SkipOverlap))
		return
	}
	sem := s.sem
	select {
	case sem <- struct{}{}:
	default:
		*skips = append(*skips, skipEvent(l.j, key, SkipConcurrency))
		return
	}
	deadline := due.Add(l.j.Timeout)
	s.running[key] = &inflight{deadline: deadline}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		runCtx, release := l.context(ctx, deadline)
		res := l.j.Execute(runCtx, s.env, l.v, target)
		release()
		res.Scheduled = due
		<-sem
		var skips []event
		var backoff []event
		s.mu.Lock()
		next := s.running[key].next
		delete(s.running, key)
		if l.ctx.Err() == nil {
			// Decided before a handed-over run starts, which it may hold back.
			backoff = s.noteCredentials(l.j, key, due, res)
		}
		switch {
		case next == nil || next.l.ctx.Err() != nil:
		case time.Since(next.due) > handoverGrace:
			// This run went on well past its deadline; the one due
			// meanwhile overlapped it.
			skips = append(skips, skipEvent(next.l.j, key, SkipOverlap))
		default:
			s.start(next.ctx, next.l, target, next.due, &skips)
		}
		s.mu.Unlock()
		s.emit(skips)
		// A removed journey's loop is cancelled; its last run is not news.
		if l.ctx.Err() == nil && s.OnResult != nil {
			s.OnResult(l.j, res)
		}
		s.emit(backoff)
	}()
}

// noteCredentials keeps count of a series' runs refused with
// invalid_credentials and decides its backoff (see Backoff). It returns
// the event to report when the backoff starts, grows or ends. It holds s.mu.
func (s *Scheduler) noteCredentials(j *Journey, key SeriesKey, due time.Time, res Result) []event {
	b := s.backoff[key]
	switch {
	case res.Outcome == OutcomeSuccess || s.lockout.After <= 0:
		if b == nil {
			return nil
		}
		delete(s.backoff, key)
		if b.Until.IsZero() {
			return nil
		}
		return []event{backoffEvent(j, key, Backoff{})}
	case res.Reason != ReasonInvalidCredentials:
		// The credentials were not tried, or not refused: this run
		// neither counts nor forgives.
		return nil
	}
	if b == nil {
		b = &Backoff{}
		s.backoff[key] = b
	}
	b.Failures++
	if b.Failures < s.lockout.After {
		return nil
	}
	// Twice the interval at the After-th refusal, doubling with each
	// further one; in whole intervals, so runs stay on the series' slots,
	// and never more than MaxBackoff.
	most := max(1, int64(s.lockout.MaxBackoff.D()/j.Interval))
	slots := int64(2)
	for range b.Failures - s.lockout.After {
		if slots >= most {
			break
		}
		slots *= 2
	}
	if slots = min(slots, most); slots < 2 {
		// max_backoff is shorter than two intervals: there is no slower
		// schedule to back off to.
		return nil
	}
	b.Interval = time.Duration(slots) * j.Interval
	b.Until = due.Add(b.Interval)
	return []event{backoffEvent(j, key, *b)}
}

// resolveTargets looks up a DNS fan-out's addresses. When the lookup fails
// it returns a failed result for the series named after the DNS name itself,
// because no address series can say that the name is gone.
func resolveTargets(ctx context.Context, env *Env, j *Journey, v *Variant, due time.Time) ([]string, *Result) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	host, port, _ := net.SplitHostPort(j.Targets.DNS)
	addrs, err := env.resolver().LookupHost(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("%s has no A or AAAA records", host)
	}
	if err != nil {
		reason := ClassifyNetwork(err)
		if reason != ReasonTimeout {
			reason = ReasonDNS
		}
		return nil, &Result{Journey: j.Name, Variant: v.Name, Target: j.Targets.DNS, Start: start, Scheduled: due,
			Duration: time.Since(start), Outcome: OutcomeFailure, Reason: reason, FailedStep: "resolve-targets",
			Message: truncate(env.Redactor().String(fmt.Sprintf("resolving the fan-out %s: %v", j.Targets.DNS, err)))}
	}
	targets := make([]string, 0, len(addrs))
	for _, a := range addrs {
		targets = append(targets, net.JoinHostPort(a, port))
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	if len(targets) > j.Targets.MaxTargets {
		env.logger().Warn("DNS fan-out has more addresses than max_targets; probing the first ones",
			"journey", j.Name, "dns", j.Targets.DNS, "addresses", len(targets), "max_targets", j.Targets.MaxTargets,
			"dropped", strings.Join(targets[j.Targets.MaxTargets:], ","))
		targets = targets[:j.Targets.MaxTargets]
	}
	return targets, nil
}

// RunOnce runs every journey once for every variant and target of the
// env's shard, at most maxConcurrency at a time, and returns the results
// in configuration order.
func RunOnce(ctx context.Context, env *Env, journeys []*Journey, maxConcurrency int) []Result {
	type job struct {
		j      *Journey
		v      *Variant
		target string
	}
	var jobs []job
	var results []Result
	shard := env.Shard()
	for _, p := range Pairs(journeys, shard) {
		if !p.DNS {
			jobs = append(jobs, job{p.Journey, p.Variant, p.Target})
			continue
		}
		targets, res := resolveTargets(ctx, env, p.Journey, p.Variant, time.Now())
		if res != nil && Owns(shard, p.Key()) {
			results = append(results, *res)
		}
		for _, t := range OwnedTargets(shard, p.Journey, p.Variant, targets) {
			jobs = append(jobs, job{p.Journey, p.Variant, t})
		}
	}
	out := make([]Result, len(jobs))
	sem := make(chan struct{}, max(1, maxConcurrency))
	var wg sync.WaitGroup
	for i, jb := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = jb.j.Execute(ctx, env, jb.v, jb.target)
			out[i].Scheduled = out[i].Start
		}()
	}
	wg.Wait()
	return append(results, out...)
}

// loopHeap orders loops by their next start.
type loopHeap []*loop

func (h loopHeap) Len() int           { return len(h) }
func (h loopHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h loopHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *loopHeap) Push(x any) {
	l := x.(*loop)
	l.index = len(*h)
	*h = append(*h, l)
}
func (h *loopHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	*h = old[:len(old)-1]
	return l
}
