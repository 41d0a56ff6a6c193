package chat

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// MemoryBroker is a Broker for a single node: everything lives in this
// process and is lost with it. It owns no goroutines.
type MemoryBroker struct {
	mu      sync.Mutex
	streams map[string]*memStream
	nextID  uint64
	closed  bool
}

var _ Broker = (*MemoryBroker)(nil)

type memStream struct {
	epoch    string
	top      uint64
	hist     []Publication
	subs     map[uint64]func(Publication)
	state    map[string][]byte
	presence map[string]memPresence
	buckets  map[memBucketKey]*rate.Limiter
	swept    time.Time // when full buckets were last forgotten
}

type memBucketKey struct {
	key string
	lim Limit
}

// bucketSweep is how often (on the callers' clock) a stream's full buckets
// are forgotten: a full bucket is the same as none.
const bucketSweep = time.Minute

type memPresence struct {
	n       int
	expires time.Time
}

// NewMemoryBroker returns an empty in-memory broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{streams: make(map[string]*memStream)}
}

// stream returns the state of id, creating it; b.mu must be held.
func (b *MemoryBroker) stream(id string) *memStream {
	s := b.streams[id]
	if s == nil {
		s = &memStream{
			epoch:    newEpoch(),
			subs:     make(map[uint64]func(Publication)),
			state:    make(map[string][]byte),
			presence: make(map[string]memPresence),
			buckets:  make(map[memBucketKey]*rate.Limiter),
		}
		b.streams[id] = s
	}
	return s
}

// newEpoch returns a fresh epoch name.
func newEpoch() string { return uuid.NewString()[:8] }

// Publish implements Broker. Subscribers are called before it returns, in
// the order publications were made.
func (b *MemoryBroker) Publish(ctx context.Context, stream string, p Publication, history bool, size int) (Publication, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Publication{}, ErrBrokerClosed
	}
	s := b.stream(stream)
	if history {
		if len(p.Data) < 2 || p.Data[len(p.Data)-1] != '}' {
			return Publication{}, fmt.Errorf("chat: publish with history: data is not a JSON object")
		}
		s.top++
		p.Offset, p.Epoch = s.top, s.epoch
		p.Data = withOffset(p.Data, p.Offset, p.Epoch)
		s.hist = append(s.hist, p)
		if size <= 0 {
			size = 1
		}
		if over := len(s.hist) - size; over > 0 {
			s.hist = append(s.hist[:0:0], s.hist[over:]...)
		}
	}
	for _, h := range s.subs {
		h(p)
	}
	return p, nil
}

// withOffset appends "offset" and "epoch" to the JSON object data.
func withOffset(data []byte, offset uint64, epoch string) []byte {
	out := make([]byte, 0, len(data)+40+len(epoch))
	out = append(out, data[:len(data)-1]...)
	out = append(out, `,"offset":`...)
	out = strconv.AppendUint(out, offset, 10)
	out = append(out, `,"epoch":"`...)
	out = append(out, epoch...)
	out = append(out, `"}`...)
	return out
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(ctx context.Context, stream string, h func(Publication)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	b.nextID++
	id := b.nextID
	b.stream(stream).subs[id] = h
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if s := b.streams[stream]; s != nil {
			delete(s.subs, id)
		}
	}, nil
}

// History implements Broker.
func (b *MemoryBroker) History(ctx context.Context, stream string) (History, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return History{}, ErrBrokerClosed
	}
	s := b.stream(stream)
	return History{Pubs: append([]Publication(nil), s.hist...), Top: s.top, Epoch: s.epoch}, nil
}

// SetState implements Broker.
func (b *MemoryBroker) SetState(ctx context.Context, stream, key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	b.stream(stream).state[key] = append([]byte(nil), value...)
	return nil
}

// TakeState implements Broker.
func (b *MemoryBroker) TakeState(ctx context.Context, stream, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	s := b.stream(stream)
	v, ok := s.state[key]
	if !ok {
		return nil, nil
	}
	delete(s.state, key)
	return v, nil
}

// States implements Broker.
func (b *MemoryBroker) States(ctx context.Context, stream string) (map[string][]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	out := make(map[string][]byte)
	for k, v := range b.stream(stream).state {
		out[k] = v
	}
	return out, nil
}

// SetPresence implements Broker.
func (b *MemoryBroker) SetPresence(ctx context.Context, stream, node string, n int, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	s := b.stream(stream)
	if n <= 0 {
		delete(s.presence, node)
		return nil
	}
	s.presence[node] = memPresence{n: n, expires: time.Now().Add(ttl)}
	return nil
}

// Presence implements Broker.
func (b *MemoryBroker) Presence(ctx context.Context, stream string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrBrokerClosed
	}
	s := b.streams[stream]
	if s == nil {
		return 0, nil
	}
	now, total := time.Now(), 0
	for node, p := range s.presence {
		if now.After(p.expires) {
			delete(s.presence, node)
			continue
		}
		total += p.n
	}
	return total, nil
}

// Allow implements Broker with golang.org/x/time/rate.
func (b *MemoryBroker) Allow(ctx context.Context, stream, key string, lim Limit, now time.Time) (bool, error) {
	if lim.Every <= 0 || lim.Burst <= 0 {
		return false, fmt.Errorf("chat: allow: invalid limit %+v", lim)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrBrokerClosed
	}
	s := b.stream(stream)
	if now.Sub(s.swept) > bucketSweep || now.Before(s.swept) {
		for k, l := range s.buckets {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(s.buckets, k)
			}
		}
		s.swept = now
	}
	k := memBucketKey{key: key, lim: lim}
	l := s.buckets[k]
	if l == nil {
		l = rate.NewLimiter(rate.Every(lim.Every), lim.Burst)
		s.buckets[k] = l
	}
	return l.AllowN(now, 1), nil
}

// Close implements Broker. It is idempotent.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.streams = make(map[string]*memStream)
	return nil
}
