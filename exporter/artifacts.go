package exporter

import (
	"slices"
	"sync"
	"time"

	"github.com/authprobe/authprobe/probes"
)

// Failure evidence is kept in memory, bounded twice: the last few per
// series, and a total size, since screenshots are the large part.
const (
	artifactsPerJourney = 5
	artifactBytes       = 32 << 20
)

// StoredArtifact is a failure's evidence with where and when it happened.
type StoredArtifact struct {
	ID      uint64        `json:"id"`
	Journey string        `json:"journey"`
	Variant string        `json:"variant,omitempty"`
	Target  string        `json:"target,omitempty"`
	Time    time.Time     `json:"time"`
	Reason  probes.Reason `json:"reason"`
	Message string        `json:"message,omitempty"`
	probes.Artifact
	// HasScreenshot says whether /api/v1/artifacts/{id}/screenshot.png exists.
	HasScreenshot bool `json:"has_screenshot"`
}

type artifactStore struct {
	mu       sync.Mutex
	next     uint64
	perKey   int
	maxBytes int
	bytes    int
	all      []*StoredArtifact // oldest first
}

func newArtifactStore(perKey, maxBytes int) *artifactStore {
	return &artifactStore{perKey: perKey, maxBytes: maxBytes}
}

func artifactKey(a *StoredArtifact) probes.SeriesKey {
	return probes.SeriesKey{Journey: a.Journey, Variant: a.Variant, Target: a.Target}
}

// add keeps a run's artifact and returns its id, dropping the series'
// oldest beyond perKey and the store's oldest beyond maxBytes.
func (s *artifactStore) add(res probes.Result) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	a := &StoredArtifact{ID: s.next, Journey: res.Journey, Variant: res.Variant, Target: res.Target,
		Time: res.Start, Reason: res.Reason, Message: res.Message, Artifact: *res.Artifact,
		HasScreenshot: len(res.Artifact.Screenshot) > 0}
	k := artifactKey(a)
	n := 0
	for i := len(s.all) - 1; i >= 0; i-- {
		if artifactKey(s.all[i]) == k {
			if n++; n >= s.perKey {
				s.remove(i)
			}
		}
	}
	s.all = append(s.all, a)
	s.bytes += len(a.Screenshot)
	for s.bytes > s.maxBytes && len(s.all) > 1 {
		s.remove(0)
	}
	return a.ID
}

func (s *artifactStore) remove(i int) {
	s.bytes -= len(s.all[i].Screenshot)
	s.all = slices.Delete(s.all, i, i+1)
}

// get returns an artifact by id.
func (s *artifactStore) get(id uint64) (*StoredArtifact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.all {
		if a.ID == id {
			return a, true
		}
	}
	return nil, false
}

// list returns every kept artifact, newest first.
func (s *artifactStore) list() []*StoredArtifact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.all)
	slices.Reverse(out)
	return out
}

// ids returns a series' artifact ids, newest first.
func (s *artifactStore) ids(k probes.SeriesKey) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	for i := len(s.all) - 1; i >= 0; i-- {
		if artifactKey(s.all[i]) == k {
			out = append(out, s.all[i].ID)
		}
	}
	return out
}

// drop forgets a removed series' artifacts.
func (s *artifactStore) drop(k probes.SeriesKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.all) - 1; i >= 0; i-- {
		if artifactKey(s.all[i]) == k {
			s.remove(i)
		}
	}
}

// Artifacts returns the kept failure evidence, newest first.
func (r *Recorder) Artifacts() []*StoredArtifact { return r.artifacts.list() }

// Artifact returns one kept artifact.
func (r *Recorder) Artifact(id uint64) (*StoredArtifact, bool) { return r.artifacts.get(id) }
