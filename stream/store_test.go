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
	t.Run("OriginAndAbandon", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		if err := s.Create(ctx, Stream{ID: "o", Title: "t", Host: "h", Status: Offline, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
		st, err := s.GoLive(ctx, "o", "node-a")
		if err != nil || st.Status != Live || st.Origin != "node-a" {
			t.Fatalf("GoLive = %+v, %v", st, err)
		}
		// Only the origin's abandon counts: another node decides nothing.
		if done, err := s.Abandon(ctx, "o", "node-b"); err != nil || done {
			t.Fatalf("Abandon by another node = %v, %v; want false", done, err)
		}
		if got, _ := s.Get(ctx, "o"); got.Status != Live {
			t.Fatalf("status = %s after another node's abandon", got.Status)
		}
		// The publisher moved to node-b: node-a's late abandon is stale.
		if _, err := s.GoLive(ctx, "o", "node-b"); err != nil {
			t.Fatal(err)
		}
		if done, _ := s.Abandon(ctx, "o", "node-a"); done {
			t.Fatal("a former origin took the stream offline")
		}
		if done, err := s.Abandon(ctx, "o", "node-b"); err != nil || !done {
			t.Fatalf("Abandon by the origin = %v, %v; want true", done, err)
		}
		if done, _ := s.Abandon(ctx, "o", "node-b"); done {
			t.Fatal("an offline stream was abandoned twice")
		}
		if got, _ := s.Get(ctx, "o"); got.Status != Offline || got.Origin != "node-b" {
			t.Fatalf("after abandon: %+v", got)
		}
		if _, err := s.SetStatus(ctx, "o", Ended); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GoLive(ctx, "o", "node-a"); !errors.Is(err, ErrEnded) {
			t.Fatalf("GoLive on an ended stream: %v, want ErrEnded", err)
		}
		if _, err := s.GoLive(ctx, "nope", "node-a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GoLive on no stream: %v, want ErrNotFound", err)
		}
	})
	t.Run("ViewersAcrossNodes", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for _, n := range []string{"a", "b", "c"} {
			if err := s.Lease(ctx, n, "http://"+n, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetViewers(ctx, "a", map[string]int{"s1": 3, "s2": 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetViewers(ctx, "b", map[string]int{"s1": 4}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetViewers(ctx, "c", map[string]int{"s1": 5}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Viewers(ctx, "s1", ""); err != nil || n != 12 {
			t.Fatalf("Viewers(s1) = %d, %v; want 12", n, err)
		}
		if n, _ := s.Viewers(ctx, "s1", "a"); n != 9 {
			t.Fatalf("Viewers(s1) but a = %d, want 9", n)
		}
		// A count of zero is forgotten; a node without a lease counts nothing.
		_ = s.SetViewers(ctx, "b", map[string]int{"s1": 0})
		_ = s.Release(ctx, "c")
		if n, _ := s.Viewers(ctx, "s1", ""); n != 3 {
			t.Fatalf("Viewers(s1) after = %d, want 3", n)
		}
		if n, _ := s.Viewers(ctx, "none", ""); n != 0 {
			t.Fatalf("Viewers of nothing = %d", n)
		}
	})
	t.Run("Leases", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		if err := s.Lease(ctx, "node-a", "http://a:8080", time.Minute); err != nil {
			t.Fatal(err)
		}
		alive, err := s.Alive(ctx, []string{"node-a", "node-b"})
		if err != nil || !alive["node-a"] || alive["node-b"] {
			t.Fatalf("Alive = %v, %v; want node-a only", alive, err)
		}
		if url, err := s.NodeURL(ctx, "node-a"); err != nil || url != "http://a:8080" {
			t.Fatalf("NodeURL(node-a) = %q, %v; want http://a:8080", url, err)
		}
		if _, err := s.NodeURL(ctx, "node-b"); !errors.Is(err, ErrNodeGone) {
			t.Fatalf("NodeURL of a node without a lease: %v, want ErrNodeGone", err)
		}
		if err := s.Release(ctx, "node-a"); err != nil {
			t.Fatal(err)
		}
		if alive, _ := s.Alive(ctx, []string{"node-a"}); alive["node-a"] {
			t.Fatal("a released lease is alive")
		}
		if _, err := s.NodeURL(ctx, "node-a"); !errors.Is(err, ErrNodeGone) {
			t.Fatalf("NodeURL of a released node: %v, want ErrNodeGone", err)
		}
		// A lease that is not renewed lapses by itself.
		if err := s.Lease(ctx, "node-c", "http://c:8080", 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			alive, _ := s.Alive(ctx, []string{"node-c"})
			if !alive["node-c"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a lease outlived its TTL by 10 s")
			}
			time.Sleep(20 * time.Millisecond)
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
