package cart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/livecart/livecart/api"
)

// IdempotencyTTL is how long a user's Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKeyLen bounds an Idempotency-Key, in bytes.
const MaxIdempotencyKeyLen = 255

// checkIdempotencyKey checks the header value: 1 to 255 printable ASCII
// characters.
func checkIdempotencyKey(key string) error {
	if key == "" {
		return ErrIdempotencyKeyMissing
	}
	if len(key) > MaxIdempotencyKeyLen {
		return api.Errorf(api.BadRequest, "Idempotency-Key is longer than %d bytes", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return api.New(api.BadRequest, "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

// fingerprint identifies a request for idempotency: what it did (op, e.g.
// "buy demo") and its body, equal as JSON (key order, spacing and number
// spelling do not matter).
func fingerprint(op string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if len(bytes.TrimSpace(body)) > 0 && dec.Decode(&v) == nil {
		canon, _ := json.Marshal(v) // maps marshal with sorted keys
		h.Write(canon)
	} else {
		h.Write(bytes.TrimSpace(body))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// inflight is the set of (user, key) requests running on this node, so that
// a duplicate arriving while the first runs answers 409 conflict. Across
// nodes the store's atomic scripts decide: a duplicate either runs before
// the first (and the first replays it) or after (and replays the first).
type inflight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// begin claims (user, key); it returns a release func, or
// ErrIdempotencyInFlight when the pair is already running here.
func (f *inflight) begin(user, key string) (func(), error) {
	k := user + "\x00" + key
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	if _, ok := f.keys[k]; ok {
		return nil, ErrIdempotencyInFlight
	}
	f.keys[k] = struct{}{}
	return func() {
		f.mu.Lock()
		delete(f.keys, k)
		f.mu.Unlock()
	}, nil
}
