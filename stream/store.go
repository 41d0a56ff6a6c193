package stream

import (
	"context"
	"regexp"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Status is where a stream is in its life.
type Status string

// The statuses of the contract (section 4).
const (
	// Offline: nobody publishes (never did, or the reconnect grace expired).
	Offline Status = "offline"
	// Live: a host published (WHIP 201) and has not been gone for longer
	// than the reconnect grace.
	Live Status = "live"
	// Ended: the host ended the show. Terminal: no more publishing.
	Ended Status = "ended"
)

// Stream is a stream as the Store keeps it.
type Stream struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Host  string `json:"host"`
	// Org is the brand the stream belongs to when its host's token named
	// one: every host of the org owns the stream.
	Org       string    `json:"org,omitempty"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// Origin is the node the stream is live on (its publisher's node);
	// empty when it never went live.
	Origin string `json:"origin,omitempty"`
}

// Store keeps the stream registry. Implementations are safe for concurrent
// use; with a shared backend (RedisStore) every node sees the same streams.
// Errors carry api codes: ErrNotFound, ErrExists, ErrEnded, and
// api.Unavailable when the backend does not answer.
type Store interface {
	// Create adds s; ErrExists when its id is taken.
	Create(ctx context.Context, s Stream) error
	// Get returns the stream id; ErrNotFound when there is none.
	Get(ctx context.Context, id string) (Stream, error)
	// SetStatus changes a stream's status atomically and returns the stream
	// as it now is. Ended is terminal: any other status on an ended stream
	// is ErrEnded, and the stream stays ended.
	SetStatus(ctx context.Context, id string, status Status) (Stream, error)
	// List returns every stream, in no particular order.
	List(ctx context.Context) ([]Stream, error)

	// GoLive marks the stream live on node (its origin) atomically and
	// returns it as it now is; ErrEnded for an ended stream.
	GoLive(ctx context.Context, id, node string) (Stream, error)
	// Abandon marks the stream offline only while it is live on node, and
	// reports whether it did: a node that is not (or no longer) the origin
	// changes nothing, so two nodes never decide for one stream.
	Abandon(ctx context.Context, id, node string) (bool, error)
	// Lease records that node is alive, reachable at url, for ttl.
	Lease(ctx context.Context, node, url string, ttl time.Duration) error
	// Release drops node's lease at once.
	Release(ctx context.Context, node string) error
	// Alive reports which of nodes hold a lease now.
	Alive(ctx context.Context, nodes []string) (map[string]bool, error)
	// NodeURL returns the URL node holds its lease with; ErrNodeGone when
	// it holds none.
	NodeURL(ctx context.Context, node string) (string, error)
	// SetViewers records node's count of WHEP viewers of each stream in
	// counts (a zero forgets the stream's count on node).
	SetViewers(ctx context.Context, node string, counts map[string]int) error
	// Viewers sums the WHEP viewers of stream over the nodes that hold a
	// lease, but node except (which knows its own count better).
	Viewers(ctx context.Context, stream, except string) (int, error)
}

// Store and service sentinels.
var (
	ErrNotFound = api.New(api.NotFound, "no such stream")
	ErrExists   = api.New(api.Conflict, "a stream with this id already exists")
	ErrEnded    = api.New(api.Conflict, "this stream has ended")
	ErrOffline  = api.New(api.StreamOffline, "nobody is publishing this stream")
	ErrBusy     = api.New(api.Conflict, "another publisher is live on this stream")
	ErrNodeGone = api.New(api.Unavailable, "the stream's origin node holds no lease")
)

var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// validID reports whether id is a well-formed stream id: [a-z0-9-]{1,64}.
func validID(id string) bool { return idPattern.MatchString(id) }

// Owner is who owns st: its org when it has one, else its host.
func (st Stream) Owner() auth.Owner { return auth.Owner{Sub: st.Host, Org: st.Org} }
