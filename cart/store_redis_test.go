package cart

import (
	"testing"
	"time"

	"github.com/livecart/livecart/redistest"
)

// mustRedisStore returns a RedisStore over srv, emptied first.
func mustRedisStore(t *testing.T, srv *redistest.Server) *RedisStore {
	t.Helper()
	if err := srv.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := NewRedisStore(srv.Client(), RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	testShop(t, func(t *testing.T, now func() time.Time) Store { return mustRedisStore(t, srv) })
}
