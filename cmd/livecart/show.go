package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/livecart/livecart/cart"
	"github.com/livecart/livecart/chat"
	"github.com/livecart/livecart/stream"
	"github.com/livecart/livecart/web"
)

// show is a stream as the API answers it: what the stream registry knows
// of it and what the shop shows in it. It is the answer of GET
// /api/streams/{id}, each item of GET /api/streams, the answer of POST
// /api/streams and of POST /api/streams/{id}/end, the room's
// welcome.stream and the source of /watch/{id}'s preview. Its JSON is
// {"id","title","host","status","viewers","pinned","lineup"}.
type show struct {
	stream.View
	// Pinned is the pinned product's card, JSON null when none.
	Pinned *cart.Card `json:"pinned"`
	// Lineup is the stream's products with live stock, JSON [] when none.
	Lineup []cart.Product `json:"lineup"`
}

// shows composes shows, reading from the stream registry and the shop,
// neither of which knows of the other. Its methods are safe for
// concurrent use.
type shows struct {
	streams *stream.Service
	shop    *cart.Shop
}

var _ chat.Streams = shows{}

// of is the show of the stream whose View is v: v with the shop's pinned
// card and lineup of that stream.
func (s shows) of(ctx context.Context, v stream.View) (show, error) {
	pinned, lineup, err := s.shop.Showcase(ctx, v.ID)
	if err != nil {
		return show{}, fmt.Errorf("showcase of stream %q: %w", v.ID, err)
	}
	if lineup == nil {
		lineup = []cart.Product{}
	}
	return show{View: v, Pinned: pinned, Lineup: lineup}, nil
}

// get is the show of stream id; an error with code not_found when there is
// no such stream.
func (s shows) get(ctx context.Context, id string) (show, error) {
	v, err := s.streams.View(ctx, id)
	if err != nil {
		return show{}, err
	}
	return s.of(ctx, v)
}

// StreamView is the show of stream id encoded as GET /api/streams/{id}
// answers it, for the room's welcome.
func (s shows) StreamView(ctx context.Context, id string) (json.RawMessage, error) {
	sh, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	// As the API encodes it (api.WriteJSON): HTML characters as they are.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sh); err != nil {
		return nil, fmt.Errorf("encoding the show of stream %q: %w", id, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// preview is the show of stream id as /watch/{id} previews it: title, host,
// status and the pinned product's image, else the first lineup product's
// that has one.
func (s shows) preview(ctx context.Context, id string) (web.Show, error) {
	sh, err := s.get(ctx, id)
	if err != nil {
		return web.Show{}, err
	}
	p := web.Show{Title: sh.Title, Host: sh.Host, Status: sh.Status}
	if sh.Pinned != nil {
		p.Image = sh.Pinned.ImageURL
	}
	for i := 0; p.Image == "" && i < len(sh.Lineup); i++ {
		p.Image = sh.Lineup[i].ImageURL
	}
	return p, nil
}
