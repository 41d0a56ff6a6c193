package main

import (
	"context"
	"fmt"
	"os"

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
// needs as a small interface, and wire hands it the others. Each part is
// built after what it reads from: the stream registry, then the shop (it
// asks the registry who owns a stream), then the room (it reads from
// both); the show (show.go) is composed from the registry and the shop.
// What the registry and the shop tell the room goes through roomEvents,
// connected to the room before anything runs or is served.
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

	events := &roomEvents{}
	streams, err := stream.New(stream.Config{
		Log:        a.log.With("part", "stream"),
		Signer:     a.signer,
		Store:      streamStore,
		Events:     events,
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
		Events:  events,
		Owners:  streams,
		Hold:    a.cfg.Hold,
		Metrics: a.reg,
	})
	if err != nil {
		_ = streams.Shutdown(ctx)
		broker.Close()
		return fmt.Errorf("shop: %w", err)
	}
	sh := shows{streams: streams, shop: shop}
	rooms, err := chat.New(chat.Config{
		Log:         a.log.With("part", "chat"),
		Signer:      a.signer,
		Broker:      broker,
		Owners:      streams,
		Streams:     sh,
		Pinner:      shop,
		CheckOrigin: a.origins.Allowed,
		OnJoin:      shop.Viewed,
		OnViewers: func(stream string, count int) {
			events.viewersNow(stream, count)
			shop.ViewersNow(stream, count)
		},
		Metrics:    a.reg,
		LineBudget: a.cfg.RoomLines,
	})
	if err != nil {
		_ = streams.Shutdown(ctx)
		broker.Close()
		return fmt.Errorf("live room: %w", err)
	}
	events.connect(rooms, shop)
	a.parts = parts{streams: streams, rooms: rooms, shop: shop}

	stream.RoutesWith(a.mux, streams, sh.of)
	shop.Routes(a.mux)
	rooms.Routes(a.mux)
	web.Routes(a.mux, web.Config{Guests: a.cfg.Guests, Show: sh.preview})

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
