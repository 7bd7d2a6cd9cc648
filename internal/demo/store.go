package demo

import (
	"container/list"
	"sync"
	"time"
)

// store is a bounded map of short-lived random tokens (pending CSRF tokens,
// sessions). Anyone on the network can mint entries with a GET, so it must
// never grow past limit: the oldest entry is evicted first.
type store struct {
	mu    sync.Mutex
	ttl   time.Duration
	limit int
	now   func() time.Time
	items map[string]*list.Element
	// Every entry lives for the same ttl, so insertion order is also expiry
	// order: pruning and eviction both work from the front.
	order *list.List
}

type storeItem struct {
	key, value string
	expires    time.Time
}

func newStore(limit int, ttl time.Duration) *store {
	return &store{
		ttl:   ttl,
		limit: limit,
		now:   time.Now,
		items: make(map[string]*list.Element),
		order: list.New(),
	}
}

// put stores value under key, replacing any previous value and restarting its ttl.
func (s *store) put(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	if e, ok := s.items[key]; ok {
		s.removeLocked(e)
	}
	for s.order.Len() >= s.limit {
		s.removeLocked(s.order.Front())
	}
	s.items[key] = s.order.PushBack(&storeItem{key: key, value: value, expires: now.Add(s.ttl)})
}

// get returns the live value stored under key.
func (s *store) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok {
		return "", false
	}
	it := e.Value.(*storeItem)
	if !s.now().Before(it.expires) {
		s.removeLocked(e)
		return "", false
	}
	return it.value, true
}

// take returns the live value stored under key and deletes it, so that a
// token can be used only once.
func (s *store) take(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok {
		return "", false
	}
	s.removeLocked(e)
	it := e.Value.(*storeItem)
	return it.value, s.now().Before(it.expires)
}

func (s *store) delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok {
		s.removeLocked(e)
	}
}

func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

func (s *store) pruneLocked(now time.Time) {
	for e := s.order.Front(); e != nil; e = s.order.Front() {
		if now.Before(e.Value.(*storeItem).expires) {
			return
		}
		s.removeLocked(e)
	}
}

func (s *store) removeLocked(e *list.Element) {
	s.order.Remove(e)
	delete(s.items, e.Value.(*storeItem).key)
}
