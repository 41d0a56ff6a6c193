package cart

import (
	"bytes"
	"net/http"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Body limits, in bytes.
const (
	maxProductBody = 16 << 10
	maxSmallBody   = 4 << 10
	maxLineupBody  = 32 << 10
)

// Routes registers every endpoint of contract section 5 on mux (Go 1.22
// patterns). The handlers are safe for concurrent use.
func (s *Shop) Routes(mux api.Router) {
	mux.HandleFunc("PUT /api/products/{sku}", s.handlePutProduct)
	mux.HandleFunc("GET /api/products/{sku}", s.handleGetProduct)
	mux.HandleFunc("PUT /api/streams/{id}/lineup", s.handlePutLineup)
	mux.HandleFunc("POST /api/streams/{id}/pin", s.handlePin)
	mux.HandleFunc("DELETE /api/streams/{id}/pin", s.handleUnpin)
	mux.HandleFunc("POST /api/streams/{id}/buy", s.handleBuy)
	mux.HandleFunc("GET /api/streams/{id}/orders", s.handleStreamOrders)
	mux.HandleFunc("GET /api/cart", s.handleGetCart)
	mux.HandleFunc("PUT /api/cart/items/{sku}", s.handlePutCartItem)
	mux.HandleFunc("POST /api/cart/checkout", s.handleCheckout)
	mux.HandleFunc("GET /api/orders", s.handleMyOrders)
	mux.HandleFunc("GET /api/orders/{id}", s.handleGetOrder)
	mux.HandleFunc("POST /api/orders/{id}/cancel", s.handleCancel)
	mux.HandleFunc("POST /api/streams/{id}/waitlist", s.handleJoinWaitlist)
	mux.HandleFunc("DELETE /api/streams/{id}/waitlist", s.handleLeaveWaitlist)
	mux.HandleFunc("GET /api/streams/{id}/waitlist", s.handleWaiting)
	mux.HandleFunc("POST /api/streams/{id}/coupons", s.handleCreateCoupon)
	mux.HandleFunc("GET /api/streams/{id}/coupons", s.handleCoupons)
	mux.HandleFunc("GET /api/streams/{id}/stats", s.handleStats)
}

func (s *Shop) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.WriteError(w, r, s.log, err)
}

// principal returns the request's principal or answers 401.
func (s *Shop) principal(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	p, err := s.signer.Require(r)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return p, true
}

func (s *Shop) handlePutProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	if err := auth.Check(p, auth.Create, auth.Resource{}); err != nil {
		s.fail(w, r, err)
		return
	}
	var body ProductInput
	if err := api.DecodeJSON(w, r, maxProductBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	sku := r.PathValue("sku")
	created, err := s.PutProductInput(r.Context(), p, sku, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	got, err := s.Product(r.Context(), sku)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	api.WriteJSON(w, status, got)
}

func (s *Shop) handleGetProduct(w http.ResponseWriter, r *http.Request) {
	p, err := s.Product(r.Context(), r.PathValue("sku"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, p)
}

func (s *Shop) handlePutLineup(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	var body struct {
		SKUs []string `json:"skus"`
	}
	if err := api.DecodeJSON(w, r, maxLineupBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.SKUs == nil {
		s.fail(w, r, api.New(api.BadRequest, "skus is required (an empty list empties the lineup)"))
		return
	}
	stream := r.PathValue("id")
	if err := s.PutLineup(r.Context(), p, stream, body.SKUs); err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"stream": stream, "skus": body.SKUs})
}

func (s *Shop) handlePin(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	var body PinRequest
	if err := api.DecodeJSON(w, r, maxSmallBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.PinCard(r.Context(), p, r.PathValue("id"), body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, c)
}

func (s *Shop) handleUnpin(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	if err := s.Unpin(r.Context(), p, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Shop) handleBuy(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	stream := r.PathValue("id")
	var body BuyBody
	raw, err := api.ReadJSON(w, r, maxSmallBody, &body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	o, replayed, err := s.Buy(r.Context(), p, stream, body, key, fingerprint("buy\x00"+stream, raw))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeOrder(w, http.StatusCreated, o, replayed)
}

// writeOrder answers an order; a replayed answer says so in a header, and
// is otherwise the first answer again.
func writeOrder(w http.ResponseWriter, status int, o Order, replayed bool) {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/orders/"+o.ID)
	api.WriteJSON(w, status, o)
}

func (s *Shop) handleGetCart(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	c, err := s.Cart(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, c)
}

func (s *Shop) handlePutCartItem(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	var body CartItemBody
	if err := api.DecodeJSON(w, r, maxSmallBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.SetCartItem(r.Context(), p, r.PathValue("sku"), body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, c)
}

func (s *Shop) handleCheckout(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	// The body is optional; when sent it is a JSON object of the fields
	// checkout takes (none yet), read as strictly as any other.
	raw, err := api.ReadJSON(w, r, maxSmallBody, nil)
	var body CheckoutBody
	if err == nil && len(bytes.TrimSpace(raw)) > 0 {
		err = api.Unmarshal(raw, &body)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o, replayed, err := s.Checkout(r.Context(), p, body, r.Header.Get("Idempotency-Key"), fingerprint("checkout", raw))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeOrder(w, http.StatusCreated, o, replayed)
}

func (s *Shop) handleMyOrders(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	limit, err := api.PageLimit(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	orders, next, err := s.Orders(r.Context(), p, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, api.NewPage(orders, next))
}

func (s *Shop) handleStreamOrders(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	limit, err := api.PageLimit(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	orders, next, err := s.StreamOrders(r.Context(), p, r.PathValue("id"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, api.NewPage(orders, next))
}

func (s *Shop) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	o, err := s.Order(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, o)
}

func (s *Shop) handleCancel(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	o, err := s.Cancel(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, o)
}

// skuBody is the body of the waitlist endpoints.
type skuBody struct {
	SKU string `json:"sku"`
}

func (s *Shop) handleJoinWaitlist(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	var body skuBody
	if err := api.DecodeJSON(w, r, maxSmallBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	place, err := s.JoinWaitlist(r.Context(), p, r.PathValue("id"), body.SKU)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, place)
}

func (s *Shop) handleLeaveWaitlist(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	sku := r.URL.Query().Get("sku")
	if sku == "" {
		var body skuBody
		if err := api.DecodeJSON(w, r, maxSmallBody, &body); err != nil {
			s.fail(w, r, err)
			return
		}
		sku = body.SKU
	}
	if err := s.LeaveWaitlist(r.Context(), p, r.PathValue("id"), sku); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Shop) handleWaiting(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	out, err := s.Waiting(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Shop) handleCreateCoupon(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	var body CouponInput
	if err := api.DecodeJSON(w, r, maxSmallBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.CreateCoupon(r.Context(), p, r.PathValue("id"), body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, c)
}

func (s *Shop) handleCoupons(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Coupons(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, api.NewPage(cs, ""))
}

func (s *Shop) handleStats(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	st, err := s.Stats(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, st)
}
