package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
)

// RedisStore is a Store in Redis, shared by every node that uses the same
// server. Each stream is a hash livecart:stream:{id} (fields id, title,
// host, org, status, created_at in Unix milliseconds); the set livecart:streams
// holds every id. It is safe for concurrent use.
type RedisStore struct {
	rdb *redis.Client
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a RedisStore on rdb, which the caller owns and closes.
func NewRedisStore(rdb *redis.Client) *RedisStore { return &RedisStore{rdb: rdb} }

const (
	redisStreamsKey  = "livecart:streams"
	redisStreamKeyPf = "livecart:stream:"
)

// createScript: KEYS[1] the stream hash, KEYS[2] the id set; ARGV the fields.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'title', ARGV[2], 'host', ARGV[3], 'status', ARGV[4], 'created_at', ARGV[5], 'org', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`)

// statusScript: KEYS[1] the stream hash; ARGV[1] the new status.
// Returns -1 for no such stream, -2 for an ended stream, else the hash.
var statusScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], 'status')
if cur == 'ended' and ARGV[1] ~= 'ended' then return -2 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return redis.call('HGETALL', KEYS[1])
`)

func unavailable(err error, op string) error {
	return api.Unavailablef(err, "the stream store is unavailable (%s)", op)
}

// Create implements Store.
func (s *RedisStore) Create(ctx context.Context, st Stream) error {
	n, err := createScript.Run(ctx, s.rdb, []string{redisStreamKeyPf + st.ID, redisStreamsKey},
		st.ID, st.Title, st.Host, string(st.Status), strconv.FormatInt(st.CreatedAt.UnixMilli(), 10), st.Org).Int()
	if err != nil {
		return unavailable(err, "create")
	}
	if n == 0 {
		return fmt.Errorf("create stream %q: %w", st.ID, ErrExists)
	}
	return nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, id string) (Stream, error) {
	m, err := s.rdb.HGetAll(ctx, redisStreamKeyPf+id).Result()
	if err != nil {
		return Stream{}, unavailable(err, "get")
	}
	if len(m) == 0 {
		return Stream{}, fmt.Errorf("get stream %q: %w", id, ErrNotFound)
	}
	return streamFromHash(m), nil
}

// SetStatus implements Store.
func (s *RedisStore) SetStatus(ctx context.Context, id string, status Status) (Stream, error) {
	v, err := statusScript.Run(ctx, s.rdb, []string{redisStreamKeyPf + id}, string(status)).Result()
	if err != nil {
		return Stream{}, unavailable(err, "set status")
	}
	return scriptStream(v, id, "set status of")
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context) ([]Stream, error) {
	ids, err := s.rdb.SMembers(ctx, redisStreamsKey).Result()
	if err != nil {
		return nil, unavailable(err, "list")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, redisStreamKeyPf+id)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err, "list")
	}
	out := make([]Stream, 0, len(ids))
	for _, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out = append(out, streamFromHash(m))
		}
	}
	return out, nil
}

func streamFromHash(m map[string]string) Stream {
	ms, _ := strconv.ParseInt(m["created_at"], 10, 64)
	return Stream{
		ID:        m["id"],
		Title:     m["title"],
		Host:      m["host"],
		Origin:    m["origin"],
		Org:       m["org"],
		Status:    Status(m["status"]),
		CreatedAt: time.UnixMilli(ms).UTC(),
	}
}

const redisNodeKeyPf = "livecart:node:"

// goLiveScript: KEYS[1] the stream hash; ARGV[1] the origin node.
// Returns -1 for no such stream, -2 for an ended one, else the hash.
var goLiveScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return -2 end
redis.call('HSET', KEYS[1], 'status', 'live', 'origin', ARGV[1])
return redis.call('HGETALL', KEYS[1])
`)

// abandonScript: KEYS[1] the stream hash; ARGV[1] the node. Sets offline
// only while live on that node; returns 1 when it did.
var abandonScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'status', 'origin')
if v[1] ~= 'live' or v[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'offline')
return 1
`)

// GoLive implements Store.
func (s *RedisStore) GoLive(ctx context.Context, id, node string) (Stream, error) {
	v, err := goLiveScript.Run(ctx, s.rdb, []string{redisStreamKeyPf + id}, node).Result()
	if err != nil {
		return Stream{}, unavailable(err, "go live")
	}
	return scriptStream(v, id, "go live on")
}

// Abandon implements Store.
func (s *RedisStore) Abandon(ctx context.Context, id, node string) (bool, error) {
	n, err := abandonScript.Run(ctx, s.rdb, []string{redisStreamKeyPf + id}, node).Int()
	if err != nil {
		return false, unavailable(err, "abandon")
	}
	return n == 1, nil
}

// Lease implements Store: the key livecart:node:{node} holds the node's
// URL and expires after ttl unless renewed.
func (s *RedisStore) Lease(ctx context.Context, node, url string, ttl time.Duration) error {
	return unavailableOr(s.rdb.Set(ctx, redisNodeKeyPf+node, url, ttl).Err(), "lease")
}

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, node string) error {
	return unavailableOr(s.rdb.Del(ctx, redisNodeKeyPf+node).Err(), "release")
}

// Alive implements Store.
func (s *RedisStore) Alive(ctx context.Context, nodes []string) (map[string]bool, error) {
	out := make(map[string]bool, len(nodes))
	if len(nodes) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(nodes))
	for i, n := range nodes {
		cmds[i] = pipe.Exists(ctx, redisNodeKeyPf+n)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable(err, "alive")
	}
	for i, n := range nodes {
		out[n] = cmds[i].Val() == 1
	}
	return out, nil
}

// NodeURL implements Store: the value of node's lease key.
func (s *RedisStore) NodeURL(ctx context.Context, node string) (string, error) {
	url, err := s.rdb.Get(ctx, redisNodeKeyPf+node).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("node %q: %w", node, ErrNodeGone)
	}
	if err != nil {
		return "", unavailable(err, "node url")
	}
	return url, nil
}

func unavailableOr(err error, op string) error {
	if err == nil {
		return nil
	}
	return unavailable(err, op)
}

const redisViewersKeyPf = "livecart:viewers:"

// SetViewers implements Store: the hash livecart:viewers:{stream} holds
// each node's count.
func (s *RedisStore) SetViewers(ctx context.Context, node string, counts map[string]int) error {
	if len(counts) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for stream, n := range counts {
		key := redisViewersKeyPf + stream
		if n <= 0 {
			pipe.HDel(ctx, key, node)
			continue
		}
		pipe.HSet(ctx, key, node, n)
		pipe.Expire(ctx, key, 24*time.Hour)
	}
	_, err := pipe.Exec(ctx)
	return unavailableOr(err, "set viewers")
}

// Viewers implements Store.
func (s *RedisStore) Viewers(ctx context.Context, stream, except string) (int, error) {
	m, err := s.rdb.HGetAll(ctx, redisViewersKeyPf+stream).Result()
	if err != nil {
		return 0, unavailable(err, "viewers")
	}
	if len(m) == 0 {
		return 0, nil
	}
	nodes := make([]string, 0, len(m))
	for n := range m {
		if n != except {
			nodes = append(nodes, n)
		}
	}
	alive, err := s.Alive(ctx, nodes)
	if err != nil {
		return 0, err
	}
	total := 0
	for node, v := range m {
		if node != except && alive[node] {
			n, _ := strconv.Atoi(v)
			total += n
		}
	}
	return total, nil
}

// scriptStream reads a status script's reply: the stream's hash, or -1 for
// no such stream, -2 for an ended one.
func scriptStream(v any, id, op string) (Stream, error) {
	switch v := v.(type) {
	case int64:
		if v == -1 {
			return Stream{}, fmt.Errorf("%s stream %q: %w", op, id, ErrNotFound)
		}
		return Stream{}, fmt.Errorf("%s stream %q: %w", op, id, ErrEnded)
	case []any:
		m := make(map[string]string, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			k, _ := v[i].(string)
			val, _ := v[i+1].(string)
			m[k] = val
		}
		return streamFromHash(m), nil
	}
	return Stream{}, fmt.Errorf("%s stream %q: unexpected reply %T", op, id, v)
}
