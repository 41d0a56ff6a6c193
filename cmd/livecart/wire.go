package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/livecart/livecart/cart"
	"github.com/livecart/livecart/chat"
	"github.com/livecart/livecart/stream"
	"github.com/livecart/livecart/web"
)

// parts are the three capabilities of one node, as wire built them.
type parts struct {
	streams *stream.Service
	rooms   *chat.Rooms
	shop    *cart.Shop
}

// wire builds stream, chat and cart on the configured stores and connects
// them. It is the only place that knows all three: each declares what it
// needs as a small interface, and the bridge below hands it the others.
func (a *app) wire(ctx context.Context) error {
	var (
		streamStore stream.Store
		shopStore   cart.Store
		broker      chat.Broker
		err         error
	)
	if a.rdb != nil {
		streamStore = stream.NewRedisStore(a.rdb)
		broker = chat.NewRedisBroker(a.rdb, chat.RedisOptions{})
		if shopStore, err = cart.NewRedisStore(a.rdb, cart.RedisOptions{}); err != nil {
			return fmt.Errorf("cart store: %w", err)
		}
	} else {
		streamStore = stream.NewMemoryStore()
		broker = chat.NewMemoryBroker()
		shopStore = cart.NewMemoryStore(nil)
	}

	b := &bridge{}
	streams, err := stream.New(stream.Config{
		Log:        a.log.With("part", "stream"),
		Signer:     a.signer,
		Store:      streamStore,
		Events:     b,
		Decorator:  b,
		Metrics:    a.reg,
		UDPPort:    a.cfg.UDPPort,
		PublicIP:   a.cfg.PublicIP,
		ICEServers: a.cfg.ICEServers,
		TURNSecret: a.cfg.TURNSecret,
		NodeURL:    nodeURL(a.cfg, os.Hostname),
	})
	if err != nil {
		broker.Close()
		return fmt.Errorf("media relay: %w", err)
	}
	shop, err := cart.New(cart.Config{
		Log:     a.log.With("part", "cart"),
		Signer:  a.signer,
		Store:   shopStore,
		Events:  shopEvents{b},
		Owners:  streams,
		Hold:    a.cfg.Hold,
		Metrics: a.reg,
	})
	if err != nil {
		_ = streams.Shutdown(ctx)
		broker.Close()
		return fmt.Errorf("shop: %w", err)
	}
	rooms, err := chat.New(chat.Config{
		Log:         a.log.With("part", "chat"),
		Signer:      a.signer,
		Broker:      broker,
		Owners:      streams,
		Streams:     roomStreams{streams},
		Pinner:      shop,
		CheckOrigin: a.origins.Allowed,
		OnJoin:      b.joined,
		OnViewers:   b.viewersNow,
		Metrics:     a.reg,
		LineBudget:  a.cfg.RoomLines,
	})
	if err != nil {
		_ = streams.Shutdown(ctx)
		broker.Close()
		return fmt.Errorf("live room: %w", err)
	}
	b.parts = parts{streams: streams, rooms: rooms, shop: shop}
	a.parts = b.parts

	streams.Routes(a.mux)
	shop.Routes(a.mux)
	rooms.Routes(a.mux)
	web.Routes(a.mux, web.Config{Guests: a.cfg.Guests, Show: b.show})

	a.goBackground(ctx, "cart", shop.Run)
	a.goBackground(ctx, "stream", streams.Run)
	a.closers = append(a.closers,
		func(ctx context.Context) error {
			err := rooms.Shutdown(ctx)
			broker.Close()
			return err
		},
		streams.Shutdown,
	)
	return nil
}

// bridge connects the parts: stream and shop events go to the room, and a
// stream's view is completed with the shop's showcase and the room's count.
// Its parts are set once, before the server accepts a request.
type bridge struct {
	parts
	// viewers is each stream's viewer count as the room last said it.
	viewers sync.Map // stream → int
}

// joined tells the shop's funnel that viewer joined stream's room.
func (b *bridge) joined(stream, viewer string) {
	if b.shop != nil {
		b.shop.Viewed(stream, viewer)
	}
}

// viewersNow tells the shop's funnel stream's viewer count.
func (b *bridge) viewersNow(stream string, count int) {
	b.viewers.Store(stream, count)
	if b.shop != nil {
		b.shop.ViewersNow(stream, count)
	}
}

var (
	_ stream.Events    = (*bridge)(nil)
	_ stream.Decorator = (*bridge)(nil)
)

// StreamStatus tells the room the stream went live, offline or ended.
func (b *bridge) StreamStatus(id, status string) {
	if b.rooms != nil {
		b.rooms.StreamStatus(id, status)
	}
}

// Decorate fills a stream's pinned card, lineup and viewer count.
func (b *bridge) Decorate(ctx context.Context, v *stream.View) error {
	if b.shop != nil {
		pinned, lineup, err := b.shop.Showcase(ctx, v.ID)
		if err != nil {
			return err
		}
		if pinned != nil {
			v.Pinned = pinned
		}
		if lineup == nil {
			lineup = []cart.Product{}
		}
		v.Lineup = lineup
	}
	return nil
}

// show is a stream as /watch/{id} previews it: title, host, status and the
// pinned product's image, else the first lineup product's that has one.
func (b *bridge) show(ctx context.Context, id string) (web.Show, error) {
	v, err := b.streams.View(ctx, id)
	if err != nil {
		return web.Show{}, err
	}
	s := web.Show{Title: v.Title, Host: v.Host, Status: v.Status}
	if c, ok := v.Pinned.(*cart.Card); ok && c != nil {
		s.Image = c.ImageURL
	}
	if l, ok := v.Lineup.([]cart.Product); ok {
		for i := 0; s.Image == "" && i < len(l); i++ {
			s.Image = l[i].ImageURL
		}
	}
	return s, nil
}

// shopEvents adapts the shop's events to the room.
type shopEvents struct{ b *bridge }

var _ cart.Events = shopEvents{}

func (e shopEvents) StockChanged(streamID, sku string, stock int) {
	if e.b.rooms != nil {
		e.b.rooms.StockChanged(streamID, sku, stock)
	}
}

func (e shopEvents) OrderPlaced(streamID, sku string, qty int, buyer string) {
	if e.b.rooms != nil {
		e.b.rooms.OrderPlaced(streamID, sku, qty, buyer)
	}
}

func (e shopEvents) ProductCard(streamID string, card *cart.Card) {
	if e.b.rooms == nil {
		return
	}
	if card == nil {
		e.b.rooms.ProductCard(streamID, nil) // an untyped nil: unpinned
		return
	}
	e.b.rooms.ProductCard(streamID, card)
	if n, ok := e.b.viewers.Load(streamID); ok && e.b.shop != nil {
		e.b.shop.CardShown(streamID, card.SKU, n.(int))
	}
}

func (e shopEvents) CouponChanged(streamID string, c *cart.Coupon) {
	if e.b.rooms == nil {
		return
	}
	e.b.rooms.Coupon(streamID, chat.Coupon{Code: c.Code, PercentOff: c.PercentOff, AmountOffCents: c.AmountOffCents,
		Left: int(c.Left), EndsAt: c.EndsAt})
}

func (e shopEvents) Offer(streamID, user, sku string, heldUntil time.Time) {
	if e.b.rooms == nil {
		return
	}
	if heldUntil.IsZero() {
		e.b.rooms.OfferGone(streamID, user, sku)
		return
	}
	e.b.rooms.Offer(streamID, user, sku, heldUntil)
}

// roomStreams gives the room a stream as GET /api/streams/{id} answers it.
type roomStreams struct{ s *stream.Service }

var _ chat.Streams = roomStreams{}

func (r roomStreams) StreamView(ctx context.Context, id string) (any, error) {
	return r.s.View(ctx, id)
}
