package main

import (
	"encoding/json"
	"testing"

	"github.com/livecart/livecart/cart"
	"github.com/livecart/livecart/stream"
)

// TestShowJSON: a show encodes as GET /api/streams/{id} answers it, field
// for field and in order.
func TestShowJSON(t *testing.T) {
	v := stream.View{ID: "s1", Title: "One", Host: "h1", Status: "live", Viewers: 3}
	for _, tc := range []struct {
		name string
		show show
		want string
	}{
		{"nothing pinned, empty lineup", show{View: v, Lineup: []cart.Product{}},
			`{"id":"s1","title":"One","host":"h1","status":"live","viewers":3,"pinned":null,"lineup":[]}`},
		{"pinned", show{View: v, Pinned: &cart.Card{SKU: "mug", Name: "Mug", PriceCents: 1500, Currency: "EUR", Stock: 2},
			Lineup: []cart.Product{{SKU: "mug", Name: "Mug", PriceCents: 1500, Currency: "EUR", Stock: 2}}},
			`{"id":"s1","title":"One","host":"h1","status":"live","viewers":3,` +
				`"pinned":{"sku":"mug","name":"Mug","price_cents":1500,"currency":"EUR","stock":2,"image_url":"","ends_at":null},` +
				`"lineup":[{"sku":"mug","name":"Mug","price_cents":1500,"currency":"EUR","stock":2}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.show)
			if err != nil || string(b) != tc.want {
				t.Errorf("got %s, %v; want %s", b, err, tc.want)
			}
		})
	}
}
