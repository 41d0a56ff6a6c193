package cart

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

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
func (s *Shop) Routes(mux *http.ServeMux) {
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

// readBody reads a JSON body of at most max bytes, returning its bytes for
// the idempotency fingerprint and decoding it into v (when v is not nil).
func readBody(w http.ResponseWriter, r *http.Request, max int64, v any) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, api.Errorf(api.BadRequest, "Content-Type must be application/json, not %q", ct)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, api.Errorf(api.TooLarge, "request body is larger than %d bytes", max)
		}
		return nil, api.Errorf(api.BadRequest, "reading request body: %v", err)
	}
	if v != nil {
		if err := api.Unmarshal(data, v); err != nil {
			return nil, err
		}
	}
	return data, nil
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
	var body struct {
		Name        string `json:"name"`
		PriceCents  int64  `json:"price_cents"`
		Currency    string `json:"currency"`
		Stock       int    `json:"stock"`
		ImageURL    string `json:"image_url"`
		Description string `json:"description"`
	}
	if err := api.DecodeJSON(w, r, maxProductBody, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	prod := Product{SKU: r.PathValue("sku"), Name: body.Name, PriceCents: body.PriceCents, Currency: body.Currency,
		Stock: body.Stock, ImageURL: body.ImageURL, Description: body.Description}
	created, err := s.PutProduct(r.Context(), p, prod)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	got, err := s.Product(r.Context(), prod.SKU)
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
	raw, err := readBody(w, r, maxSmallBody, &body)
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
	raw, err := readBody(w, r, maxSmallBody, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o, replayed, err := s.Checkout(r.Context(), p, r.Header.Get("Idempotency-Key"), fingerprint("checkout", raw))
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
	limit, err := pageLimit(r)
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
	limit, err := pageLimit(r)
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

// pageLimit reads ?limit= (1 to 100, default 50).
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, api.New(api.BadRequest, "limit must be 1 to 100")
	}
	return n, nil
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
