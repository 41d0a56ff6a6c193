package chat

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBroker is a Broker shared by every node using one Redis: pub/sub
// carries publications (one channel per stream), a Lua script assigns
// offsets and keeps the history window in a capped list atomically with the
// PUBLISH, hashes hold state and per-node viewer counts, and another script
// keeps each rate-limit bucket in one string key.
//
// Pub/sub rather than Redis streams: delivery is a push (no polling or
// blocking reads per stream), the history window is needed only on join,
// and the script makes "append to history, then publish" one step so
// offsets arrive in order.
//
// The broker owns one goroutine that reads the pub/sub connection; go-redis
// reconnects it and subscribes again after Redis restarts. Publications made
// while Redis is away are lost; after a restart that lost Redis's data the
// epoch changes, so reconnecting viewers start afresh.
type RedisBroker struct {
	rdb    *redis.Client
	prefix string
	ttl    time.Duration

	ps   *redis.PubSub
	done chan struct{}

	mu     sync.RWMutex
	subs   map[string]map[uint64]func(Publication) // channel → handlers
	nextID uint64
	closed bool
}

var _ Broker = (*RedisBroker)(nil)

// RedisOptions tune a RedisBroker; the zero value is usable.
type RedisOptions struct {
	// Prefix starts every key and channel; default "livecart:room:".
	Prefix string
	// TTL is how long a quiet stream's history and state are kept; each
	// write extends it. Default 24h.
	TTL time.Duration
}

//go:embed publish.lua
var publishLua string

//go:embed history.lua
var historyLua string

//go:embed take.lua
var takeLua string

//go:embed allow.lua
var allowLua string

var (
	publishScript = redis.NewScript(publishLua)
	historyScript = redis.NewScript(historyLua)
	takeScript    = redis.NewScript(takeLua)
	allowScript   = redis.NewScript(allowLua)
)

// bucketKeep is how much longer than it needs to an idle bucket is kept in
// Redis. A bucket older than needed is full, as one that expired; the
// margin keeps a bucket whose callers' clock runs slower than Redis's.
const bucketKeep = time.Minute

// NewRedisBroker returns a broker on rdb, which it does not close. It starts
// the goroutine that reads pub/sub; Close stops it.
func NewRedisBroker(rdb *redis.Client, opt RedisOptions) *RedisBroker {
	if opt.Prefix == "" {
		opt.Prefix = "livecart:room:"
	}
	if opt.TTL <= 0 {
		opt.TTL = 24 * time.Hour
	}
	b := &RedisBroker{
		rdb:    rdb,
		prefix: opt.Prefix,
		ttl:    opt.TTL,
		ps:     rdb.Subscribe(context.Background()),
		done:   make(chan struct{}),
		subs:   make(map[string]map[uint64]func(Publication)),
	}
	ch := b.ps.Channel(redis.WithChannelSize(8192))
	go b.dispatch(ch)
	return b
}

func (b *RedisBroker) key(stream, what string) string { return b.prefix + "{" + stream + "}:" + what }
func (b *RedisBroker) channel(stream string) string   { return b.prefix + "{" + stream + "}" }

// dispatch hands every pub/sub message to the handlers of its channel.
func (b *RedisBroker) dispatch(ch <-chan *redis.Message) {
	defer close(b.done)
	for m := range ch {
		p, err := decodeEnvelope(m.Payload)
		if err != nil {
			continue
		}
		b.mu.RLock()
		for _, h := range b.subs[m.Channel] {
			h(p)
		}
		b.mu.RUnlock()
	}
}

// encodeEnvelope is the wire form of a publication between nodes and in the
// history list: "KIND OFFSET EPOCH KEY\nDATA" (EPOCH "-" when empty).
func encodeEnvelope(p Publication) string {
	epoch := p.Epoch
	if epoch == "" {
		epoch = "-"
	}
	var sb strings.Builder
	sb.Grow(len(p.Data) + len(p.Key) + 32)
	sb.WriteString(strconv.Itoa(int(p.Kind)))
	sb.WriteByte(' ')
	sb.WriteString(strconv.FormatUint(p.Offset, 10))
	sb.WriteByte(' ')
	sb.WriteString(epoch)
	sb.WriteByte(' ')
	sb.WriteString(p.Key)
	sb.WriteByte('\n')
	sb.Write(p.Data)
	return sb.String()
}

var errEnvelope = errors.New("chat: malformed publication")

func decodeEnvelope(s string) (Publication, error) {
	head, data, ok := strings.Cut(s, "\n")
	if !ok {
		return Publication{}, errEnvelope
	}
	f := strings.SplitN(head, " ", 4)
	if len(f) != 4 {
		return Publication{}, errEnvelope
	}
	kind, err1 := strconv.Atoi(f[0])
	off, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return Publication{}, errEnvelope
	}
	epoch := f[2]
	if epoch == "-" {
		epoch = ""
	}
	return Publication{Kind: Kind(kind), Offset: off, Epoch: epoch, Key: f[3], Data: []byte(data)}, nil
}

// Publish implements Broker.
func (b *RedisBroker) Publish(ctx context.Context, stream string, p Publication, history bool, size int) (Publication, error) {
	if b.isClosed() {
		return Publication{}, ErrBrokerClosed
	}
	if strings.ContainsAny(p.Key, "\n") {
		return Publication{}, fmt.Errorf("chat: publish: key %q has a newline", p.Key)
	}
	if !history {
		p.Offset, p.Epoch = 0, ""
		if err := b.rdb.Publish(ctx, b.channel(stream), encodeEnvelope(p)).Err(); err != nil {
			return Publication{}, fmt.Errorf("chat: publish: %w", err)
		}
		return p, nil
	}
	if len(p.Data) < 2 || p.Data[len(p.Data)-1] != '}' {
		return Publication{}, fmt.Errorf("chat: publish with history: data is not a JSON object")
	}
	if size <= 0 {
		size = 1
	}
	res, err := publishScript.Run(ctx, b.rdb,
		[]string{b.key(stream, "meta"), b.key(stream, "hist")},
		b.channel(stream), int(p.Kind), p.Key, p.Data, size, newEpoch(), int(b.ttl/time.Second),
	).Text()
	if err != nil {
		return Publication{}, fmt.Errorf("chat: publish: %w", err)
	}
	return decodeEnvelope(res)
}

// Subscribe implements Broker. When Redis is unreachable the subscription
// is still recorded and made when the pub/sub connection comes back.
func (b *RedisBroker) Subscribe(ctx context.Context, stream string, h func(Publication)) (func(), error) {
	ch := b.channel(stream)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrBrokerClosed
	}
	b.nextID++
	id := b.nextID
	first := len(b.subs[ch]) == 0
	if first {
		b.subs[ch] = make(map[uint64]func(Publication))
	}
	b.subs[ch][id] = h
	b.mu.Unlock()
	if first {
		// An error here (Redis away) leaves the channel recorded in the
		// PubSub, which subscribes again when it reconnects.
		_ = b.ps.Subscribe(ctx, ch)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs[ch], id)
			last := len(b.subs[ch]) == 0 && !b.closed
			if last {
				delete(b.subs, ch)
			}
			b.mu.Unlock()
			if last {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = b.ps.Unsubscribe(ctx, ch)
			}
		})
	}, nil
}

// History implements Broker.
func (b *RedisBroker) History(ctx context.Context, stream string) (History, error) {
	if b.isClosed() {
		return History{}, ErrBrokerClosed
	}
	res, err := historyScript.Run(ctx, b.rdb,
		[]string{b.key(stream, "meta"), b.key(stream, "hist")},
		newEpoch(), int(b.ttl/time.Second),
	).Slice()
	if err != nil {
		return History{}, fmt.Errorf("chat: history: %w", err)
	}
	if len(res) != 3 {
		return History{}, fmt.Errorf("chat: history: unexpected reply")
	}
	epoch, _ := res[0].(string)
	top, _ := strconv.ParseUint(fmt.Sprint(res[1]), 10, 64)
	items, _ := res[2].([]any)
	h := History{Epoch: epoch, Top: top, Pubs: make([]Publication, 0, len(items))}
	for _, it := range items {
		s, _ := it.(string)
		p, err := decodeEnvelope(s)
		if err != nil {
			continue
		}
		h.Pubs = append(h.Pubs, p)
	}
	return h, nil
}

// SetState implements Broker.
func (b *RedisBroker) SetState(ctx context.Context, stream, key string, value []byte) error {
	if b.isClosed() {
		return ErrBrokerClosed
	}
	k := b.key(stream, "state")
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, key, value)
		p.Expire(ctx, k, b.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("chat: set state: %w", err)
	}
	return nil
}

// TakeState implements Broker.
func (b *RedisBroker) TakeState(ctx context.Context, stream, key string) ([]byte, error) {
	if b.isClosed() {
		return nil, ErrBrokerClosed
	}
	v, err := takeScript.Run(ctx, b.rdb, []string{b.key(stream, "state")}, key).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("chat: take state: %w", err)
	}
	return []byte(v), nil
}

// States implements Broker.
func (b *RedisBroker) States(ctx context.Context, stream string) (map[string][]byte, error) {
	if b.isClosed() {
		return nil, ErrBrokerClosed
	}
	m, err := b.rdb.HGetAll(ctx, b.key(stream, "state")).Result()
	if err != nil {
		return nil, fmt.Errorf("chat: states: %w", err)
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}

// SetPresence implements Broker: field node of a hash holds "N EXPIRES_MS",
// and the hash itself expires when no node refreshes it.
func (b *RedisBroker) SetPresence(ctx context.Context, stream, node string, n int, ttl time.Duration) error {
	if b.isClosed() {
		return ErrBrokerClosed
	}
	k := b.key(stream, "presence")
	var err error
	if n <= 0 {
		err = b.rdb.HDel(ctx, k, node).Err()
	} else {
		exp := time.Now().Add(ttl).UnixMilli()
		_, err = b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, k, node, strconv.Itoa(n)+" "+strconv.FormatInt(exp, 10))
			// The hash outlives any one node's entry; stale entries are skipped.
			p.PExpire(ctx, k, max(10*ttl, time.Minute))
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("chat: set presence: %w", err)
	}
	return nil
}

// Presence implements Broker.
func (b *RedisBroker) Presence(ctx context.Context, stream string) (int, error) {
	if b.isClosed() {
		return 0, ErrBrokerClosed
	}
	k := b.key(stream, "presence")
	m, err := b.rdb.HGetAll(ctx, k).Result()
	if err != nil {
		return 0, fmt.Errorf("chat: presence: %w", err)
	}
	now, total := time.Now().UnixMilli(), 0
	var stale []string
	for node, v := range m {
		ns, es, _ := strings.Cut(v, " ")
		n, _ := strconv.Atoi(ns)
		exp, _ := strconv.ParseInt(es, 10, 64)
		if exp < now {
			stale = append(stale, node)
			continue
		}
		total += n
	}
	if len(stale) > 0 {
		_ = b.rdb.HDel(ctx, k, stale...).Err()
	}
	return total, nil
}

// Allow implements Broker: one script call (EVALSHA) on a string key per
// bucket, named after key and lim, that expires once the bucket is full
// again.
func (b *RedisBroker) Allow(ctx context.Context, stream, key string, lim Limit, now time.Time) (bool, error) {
	if b.isClosed() {
		return false, ErrBrokerClosed
	}
	if lim.Every <= 0 || lim.Burst <= 0 {
		return false, fmt.Errorf("chat: allow: invalid limit %+v", lim)
	}
	k := b.key(stream, "rate:"+strconv.FormatInt(lim.Every.Microseconds(), 10)+":"+strconv.Itoa(lim.Burst)+":"+key)
	every := max(lim.Every.Microseconds(), 1)
	n, err := allowScript.Run(ctx, b.rdb, []string{k},
		now.UnixMicro(), every, lim.Burst, bucketKeep.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("chat: allow: %w", err)
	}
	return n == 1, nil
}

func (b *RedisBroker) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// Close implements Broker: it closes the pub/sub connection and waits for
// the goroutine reading it. It does not close the redis.Client. Idempotent.
func (b *RedisBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.subs = make(map[string]map[uint64]func(Publication))
	b.mu.Unlock()
	err := b.ps.Close()
	<-b.done
	return err
}
