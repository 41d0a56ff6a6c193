package chat

import (
	"context"
	"errors"
	"time"
)

// ErrBrokerClosed is returned by a Broker that has been closed.
var ErrBrokerClosed = errors.New("chat: broker closed")

// Kind says what a hub does with a Publication.
type Kind uint8

const (
	// KindEvent is a message every viewer receives, in order (chat, order,
	// deleted, reactions, …). It goes through each connection's bounded
	// queue.
	KindEvent Kind = iota
	// KindState is the latest value of a piece of room state (product, stock,
	// stream status): it replaces any older value with the same Key still
	// waiting for a connection, so a viewer always ends on the latest one.
	KindState
	// KindControl is for the hubs, not the viewers: moderation changes and
	// held lines, as a control JSON object in Data.
	KindControl
)

// Publication is one message carried by a Broker to every hub of a stream,
// on every node.
type Publication struct {
	// Kind says how hubs deliver it.
	Kind Kind
	// Key is the conflation key of a KindState publication ("product",
	// "stock:SKU", "stream").
	Key string
	// Offset and Epoch are set by the Broker on a publication made with
	// history; zero and empty otherwise.
	Offset uint64
	Epoch  string
	// Data is the client-facing JSON object (for KindControl, the control
	// object), without a trailing newline.
	Data []byte
}

// History is a stream's history window as a Broker holds it.
type History struct {
	// Pubs are the publications in the window, oldest first.
	Pubs []Publication
	// Top is the offset of the latest publication ever made in this epoch
	// (0: none).
	Top uint64
	// Epoch names the current run of offsets; it changes when the history
	// is lost (a new in-memory broker, a Redis that lost its data).
	Epoch string
}

// Limit describes a token bucket: it holds at most Burst tokens and gains
// one every Every. A full bucket lets Burst lines through at once, then one
// per Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// Broker carries a room's messages between the hubs of every node and keeps
// what a room needs to outlive one connection: the history window, small
// per-stream state (pinned card, stock, mutes, bans, slow mode, held lines,
// ranks), per-node viewer counts and the token buckets of rate limits.
//
// All methods are safe for concurrent use. Handlers given to Subscribe are
// called one publication at a time per subscription, in offset order for a
// stream, from the publishing goroutine (memory) or one the Broker owns
// (Redis); they must not block and must not call the Broker.
type Broker interface {
	// Publish delivers p to every subscriber of stream, on every node. When
	// history is true, p.Data must be a JSON object: the Broker assigns the
	// next offset of the stream, appends ,"offset":N,"epoch":"E" to the
	// object, keeps it in the history window (at most size entries) and
	// returns the publication as delivered.
	Publish(ctx context.Context, stream string, p Publication, history bool, size int) (Publication, error)
	// Subscribe calls h with every publication on stream from when it
	// returns until unsubscribe is called. unsubscribe is idempotent.
	Subscribe(ctx context.Context, stream string, h func(Publication)) (unsubscribe func(), err error)
	// History returns stream's history window.
	History(ctx context.Context, stream string) (History, error)

	// SetState stores value under key in stream's state.
	SetState(ctx context.Context, stream, key string, value []byte) error
	// TakeState removes key from stream's state and returns its value
	// (nil when it was absent); of two concurrent calls only one gets it.
	TakeState(ctx context.Context, stream, key string) ([]byte, error)
	// States returns stream's state.
	States(ctx context.Context, stream string) (map[string][]byte, error)

	// SetPresence records that node has n open connections to stream, for
	// ttl (a node that stops refreshing stops counting).
	SetPresence(ctx context.Context, stream, node string, n int, ttl time.Duration) error
	// Presence is the sum of the live per-node counts of stream.
	Presence(ctx context.Context, stream string) (int, error)

	// Allow takes one token at now from stream's bucket named key with
	// limit lim, shared by every node, and reports whether there was one.
	// A bucket is named by key and lim together: a bucket never used (or
	// used with another limit) starts full. The Broker only applies lim;
	// what it is is decided by the caller. now comes from the caller's
	// clock, so the nodes' clocks should agree.
	Allow(ctx context.Context, stream, key string, lim Limit, now time.Time) (bool, error)

	// Close releases the Broker's resources and stops its goroutines.
	Close() error
}
