package chat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecart/livecart/auth"
)

// Owners tells the room who owns a stream. StreamOwner returns an error
// with api code not_found when there is no such stream.
type Owners interface {
	StreamOwner(ctx context.Context, id string) (auth.Owner, error)
}

// Streams gives the stream as GET /api/streams/{id} answers it, encoded
// as JSON, for welcome.stream. The room passes it on as it is, unread.
type Streams interface {
	StreamView(ctx context.Context, id string) (json.RawMessage, error)
}

// Pinner pins a product card for the client message pin {sku} (an empty sku
// unpins). Its errors carry api codes (forbidden, not_found, not_in_lineup…).
type Pinner interface {
	Pin(ctx context.Context, p *auth.Principal, stream, sku string) error
}

// Config is what New needs. Zero limits take the defaults shown.
type Config struct {
	// Log receives the room's logs; nil discards them.
	Log *slog.Logger
	// Signer verifies ?token= (required).
	Signer *auth.Signer
	// Broker carries the rooms across nodes (required). Rooms does not
	// close it.
	Broker Broker
	// Owners is required; Streams may be nil (welcome.stream is {"id"}),
	// Pinner may be nil (pin answers an error).
	Owners  Owners
	Streams Streams
	Pinner  Pinner
	// CheckOrigin decides whether a browser page of the request's Origin may
	// open a room. It is called only for requests that carry an Origin
	// header: a client that sends none (not a browser) goes on to the token
	// check. It is the whole policy for such requests, the server's own
	// pages included; nil allows the request's own host only. It must be
	// safe for concurrent use.
	CheckOrigin func(*http.Request) bool
	// MaxConnsPerClient bounds the open room connections of one client
	// address (default 64), and MaxConns those of this node (default
	// 20000). Over them a request is answered 429 rate_limited or 503
	// unavailable, with Retry-After, before the upgrade. Client addresses
	// are those of api.ClientOf.
	MaxConnsPerClient int
	MaxConns          int
	// Metrics registers the room's collectors; nil: not registered.
	Metrics prometheus.Registerer
	// Now is the clock for rate limits, mutes, bans and slow mode; nil is
	// time.Now.
	Now func() time.Time

	// RatePerSecond and Burst limit each viewer's lines (default 1 and 5).
	RatePerSecond float64
	Burst         int
	// HistorySize is the history window per stream (default 200).
	HistorySize int
	// LineBudget is the line budget of a busy room: the chat lines
	// and questions each viewer receives live at most a second (default
	// 8), picked fairly across their senders; the rest are counted in
	// skipped messages. Lines of staff, answers, a viewer's own lines and,
	// for staff, questions are never dropped (contract section 6, "Busy
	// rooms"). History and recovery keep every line.
	LineBudget int
	// Tick is the least time between two frames a room sends to everyone
	// (default 25ms): what arrives within it goes out together, encoded
	// once. A room that has been quiet for a tick sends at once; while a
	// quarter of its connections have not yet written the last frame when
	// the next is due, the room stretches the interval, up to four times.
	Tick time.Duration
	// SendQueue bounds the messages waiting for one connection; a viewer
	// whose queue overflows is dropped with 1013 (default 256).
	SendQueue int
	// SocketSendBuffer is the kernel send buffer of each connection in
	// bytes (default 64 KiB). Bounding it keeps a stalled reader from
	// hiding megabytes of backlog in the kernel, so its queue fills and it
	// is dropped with 1013 after a bounded backlog.
	SocketSendBuffer int
	// MaxFrame is the largest client frame in bytes (default 4096).
	MaxFrame int
	// MaxText is the longest chat, question or answer in code points
	// (default 500).
	MaxText int
	// Blocklist holds words or phrases (case-insensitive) that hold a line
	// for review instead of publishing it.
	Blocklist []string

	// WriteTimeout bounds one websocket write (default 10s); PingInterval
	// is how often the server pings (default 25s) and PongTimeout how long
	// it waits for any frame from the client before dropping it (default
	// 60s).
	WriteTimeout time.Duration
	PingInterval time.Duration
	PongTimeout  time.Duration
	// ReactionsEvery is how often counted reactions are broadcast (default
	// 300ms); ViewersEvery how often the viewer count is refreshed and
	// pushed when changed (default 1s).
	ReactionsEvery time.Duration
	ViewersEvery   time.Duration

	// OnJoin, when set, is called once for each room connection that joins
	// stream, once its welcome is queued, unless it is staff (the stream's
	// host, a moderator of it or an admin). viewer is the connection's sub,
	// or for an anonymous connection an id of that connection alone
	// ("anon-" and a random UUID), so that distinct viewers can be counted.
	OnJoin func(stream, viewer string)
	// OnViewers, when set, is called with stream's viewer count across
	// nodes (the count of viewers messages) each time this node's view of
	// it changes, including when this node's last connection to the stream
	// closes (then with the count of the other nodes).
	//
	// Both hooks are called from the room's goroutines, possibly
	// concurrently, without any lock of the room held. They must return
	// quickly and never block (queue what they receive and handle it
	// elsewhere): a connection's join, or a stream's viewer count, waits
	// for them. Nil hooks are not called.
	OnViewers func(stream string, count int)
}

func (c *Config) defaults() error {
	if c.Signer == nil {
		return errors.New("chat: config: Signer is required")
	}
	if c.Broker == nil {
		return errors.New("chat: config: Broker is required")
	}
	if c.Owners == nil {
		return errors.New("chat: config: Owners is required")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	setDefault(&c.RatePerSecond, 1)
	setDefault(&c.Burst, 5)
	setDefault(&c.HistorySize, 200)
	setDefault(&c.LineBudget, 8)
	setDefault(&c.Tick, 25*time.Millisecond)
	setDefault(&c.SendQueue, 256)
	setDefault(&c.SocketSendBuffer, 64<<10)
	setDefault(&c.MaxFrame, 4096)
	setDefault(&c.MaxText, 500)
	setDefault(&c.MaxConnsPerClient, 64)
	setDefault(&c.MaxConns, 20000)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.PingInterval, 25*time.Second)
	setDefault(&c.PongTimeout, 60*time.Second)
	setDefault(&c.ReactionsEvery, 300*time.Millisecond)
	setDefault(&c.ViewersEvery, time.Second)
	if c.PongTimeout <= c.PingInterval {
		return errors.New("chat: config: PongTimeout must be longer than PingInterval")
	}
	return nil
}

func setDefault[T int | float64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
