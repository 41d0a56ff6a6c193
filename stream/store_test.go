package stream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/redistest"
)

// testStore is the Store conformance suite, run by every implementation.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	created := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		want := Stream{ID: "a", Title: "Spring drop", Host: "h1", Org: "acme", Status: Offline, CreatedAt: created}
		if err := s.Create(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(t.Context(), "a")
		if err != nil || got != want {
			t.Fatalf("Get: got %+v, %v; want %+v", got, err, want)
		}
		if err := s.Create(t.Context(), want); !errors.Is(err, ErrExists) || api.CodeOf(err) != api.Conflict {
			t.Fatalf("Create twice: got %v, want ErrExists (conflict)", err)
		}
		if _, err := s.Get(t.Context(), "missing"); !errors.Is(err, ErrNotFound) || api.CodeOf(err) != api.NotFound {
			t.Fatalf("Get missing: got %v, want ErrNotFound", err)
		}
	})
	t.Run("SetStatus", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(t.Context(), Stream{ID: "a", Title: "t", Host: "h", Status: Offline, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
		for _, st := range []Status{Live, Offline, Live, Ended, Ended} {
			got, err := s.SetStatus(t.Context(), "a", st)
			if err != nil || got.Status != st || got.Title != "t" {
				t.Fatalf("SetStatus %s: got %+v, %v", st, got, err)
			}
		}
		for _, st := range []Status{Live, Offline} {
			if _, err := s.SetStatus(t.Context(), "a", st); !errors.Is(err, ErrEnded) {
				t.Fatalf("SetStatus %s on ended: got %v, want ErrEnded", st, err)
			}
		}
		if got, _ := s.Get(t.Context(), "a"); got.Status != Ended {
			t.Fatalf("after refused changes: status %s, want ended", got.Status)
		}
		if _, err := s.SetStatus(t.Context(), "missing", Live); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetStatus missing: got %v, want ErrNotFound", err)
		}
	})
	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.List(t.Context()); err != nil || len(got) != 0 {
			t.Fatalf("List empty: got %v, %v", got, err)
		}
		for i := 0; i < 5; i++ {
			if err := s.Create(t.Context(), Stream{ID: fmt.Sprint("s", i), Title: "t", Host: "h", Status: Offline, CreatedAt: created}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.List(t.Context())
		if err != nil || len(got) != 5 {
			t.Fatalf("List: got %d streams, %v; want 5", len(got), err)
		}
	})
	t.Run("ConcurrentCreate", func(t *testing.T) {
		s := newStore(t)
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.Create(t.Context(), Stream{ID: "race", Title: fmt.Sprint(i), Host: "h", Status: Offline, CreatedAt: created}) == nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("concurrent creates of one id: %d succeeded, want 1", ok.Load())
		}
	})
}

func TestMemoryStore(t *testing.T) {
	testStore(t, func(*testing.T) Store { return NewMemoryStore() })
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	testStore(t, func(t *testing.T) Store {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
		if err := rdb.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		return NewRedisStore(rdb)
	})
}
