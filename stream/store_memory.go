package stream

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryStore is a Store held in this process: one node, nothing survives a
// restart. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex
	streams map[string]Stream
	leases  map[string]time.Time      // node → lease end
	urls    map[string]string         // node → the URL of its lease
	viewers map[string]map[string]int // stream → node → WHEP viewers
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{streams: make(map[string]Stream), leases: make(map[string]time.Time), urls: make(map[string]string), viewers: make(map[string]map[string]int)}
}

// Create implements Store.
func (m *MemoryStore) Create(_ context.Context, s Stream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.streams[s.ID]; ok {
		return fmt.Errorf("create stream %q: %w", s.ID, ErrExists)
	}
	m.streams[s.ID] = s
	return nil
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, id string) (Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[id]
	if !ok {
		return Stream{}, fmt.Errorf("get stream %q: %w", id, ErrNotFound)
	}
	return s, nil
}

// SetStatus implements Store.
func (m *MemoryStore) SetStatus(_ context.Context, id string, status Status) (Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[id]
	if !ok {
		return Stream{}, fmt.Errorf("set status of stream %q: %w", id, ErrNotFound)
	}
	if s.Status == Ended && status != Ended {
		return s, fmt.Errorf("set status of stream %q: %w", id, ErrEnded)
	}
	s.Status = status
	m.streams[id] = s
	return s, nil
}

// List implements Store.
func (m *MemoryStore) List(_ context.Context) ([]Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stream, 0, len(m.streams))
	for _, s := range m.streams {
		out = append(out, s)
	}
	return out, nil
}

// GoLive implements Store.
func (m *MemoryStore) GoLive(_ context.Context, id, node string) (Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[id]
	if !ok {
		return Stream{}, fmt.Errorf("go live on stream %q: %w", id, ErrNotFound)
	}
	if s.Status == Ended {
		return s, fmt.Errorf("go live on stream %q: %w", id, ErrEnded)
	}
	s.Status, s.Origin = Live, node
	m.streams[id] = s
	return s, nil
}

// Abandon implements Store.
func (m *MemoryStore) Abandon(_ context.Context, id, node string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[id]
	if !ok || s.Status != Live || s.Origin != node {
		return false, nil
	}
	s.Status = Offline
	m.streams[id] = s
	return true, nil
}

// Lease implements Store.
func (m *MemoryStore) Lease(_ context.Context, node, url string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leases[node] = time.Now().Add(ttl)
	m.urls[node] = url
	return nil
}

// NodeURL implements Store.
func (m *MemoryStore) NodeURL(_ context.Context, node string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !time.Now().Before(m.leases[node]) {
		return "", fmt.Errorf("node %q: %w", node, ErrNodeGone)
	}
	return m.urls[node], nil
}

// Release implements Store.
func (m *MemoryStore) Release(_ context.Context, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.leases, node)
	delete(m.urls, node)
	return nil
}

// Alive implements Store.
func (m *MemoryStore) Alive(_ context.Context, nodes []string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(nodes))
	now := time.Now()
	for _, n := range nodes {
		out[n] = now.Before(m.leases[n])
	}
	return out, nil
}

// SetViewers implements Store.
func (m *MemoryStore) SetViewers(_ context.Context, node string, counts map[string]int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for stream, n := range counts {
		if n <= 0 {
			delete(m.viewers[stream], node)
			continue
		}
		if m.viewers[stream] == nil {
			m.viewers[stream] = make(map[string]int)
		}
		m.viewers[stream][node] = n
	}
	return nil
}

// Viewers implements Store.
func (m *MemoryStore) Viewers(_ context.Context, stream, except string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, total := time.Now(), 0
	for node, n := range m.viewers[stream] {
		if node != except && now.Before(m.leases[node]) {
			total += n
		}
	}
	return total, nil
}
