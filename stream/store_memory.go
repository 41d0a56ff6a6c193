package stream

import (
	"context"
	"fmt"
	"sync"
)

// MemoryStore is a Store held in this process: one node, nothing survives a
// restart. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex
	streams map[string]Stream
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{streams: make(map[string]Stream)}
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
