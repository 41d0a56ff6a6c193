package cart

import "sync"

// recentKeysPerGeneration bounds the memory of recentKeys: two generations
// of at most this many (user, key) pairs.
const recentKeysPerGeneration = 50_000

// recentKeys remembers the (user, Idempotency-Key) pairs that placed an
// order on this node, so that a retry of a tap that succeeded is replayed by
// the store even when the product has since sold out: the local sold-out
// mark must never answer a replay with out_of_stock. It forgets the oldest
// generation when the newest fills up; a forgotten pair, or one placed on
// another node, costs only the store round trip the mark would have saved
// when the product is not sold out, and answers out_of_stock from the mark
// when it is (see docs/API.md).
type recentKeys struct {
	mu        sync.Mutex
	cur, prev map[string]struct{}
}

func (r *recentKeys) add(user, key string) {
	k := user + "\x00" + key
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		r.cur = make(map[string]struct{})
	}
	if len(r.cur) >= recentKeysPerGeneration {
		r.prev, r.cur = r.cur, make(map[string]struct{})
	}
	r.cur[k] = struct{}{}
}

func (r *recentKeys) has(user, key string) bool {
	k := user + "\x00" + key
	r.mu.Lock()
	defer r.mu.Unlock()
	_, a := r.cur[k]
	_, b := r.prev[k]
	return a || b
}
