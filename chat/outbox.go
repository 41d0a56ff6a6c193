package chat

import (
	"context"
	"encoding/json"
	"sync"
)

// maxOutbox bounds the events waiting to be published; beyond it the oldest
// are dropped (and counted as broker errors).
const maxOutbox = 10000

// outJob is one event from another part of livecart, waiting to be
// published.
type outJob struct {
	stream string
	op     string // product, stock, order, stream
	key    string // for stock: conflation key within the outbox
	data   []byte
	card   []byte // product: the card JSON ("null": unpinned)
	skip   bool   // superseded by a newer stock value
}

// outbox makes ProductCard, StockChanged, OrderPlaced and StreamStatus
// cheap and non-blocking: they queue here, and one goroutine publishes in
// order. A stock value still waiting is replaced by a newer one.
type outbox struct {
	r    *Rooms
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	jobs    []*outJob
	pending map[string]*outJob // stream+"\x00"+sku → waiting stock job
}

func newOutbox(r *Rooms) *outbox {
	o := &outbox{
		r:       r,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[string]*outJob),
	}
	go o.run()
	return o
}

func (o *outbox) add(j *outJob) {
	o.mu.Lock()
	if j.key != "" {
		if old := o.pending[j.key]; old != nil {
			old.skip = true
		}
		o.pending[j.key] = j
	}
	if len(o.jobs) >= maxOutbox {
		o.jobs = o.jobs[1:]
		o.r.metrics.brokerErrors.WithLabelValues("outbox_full").Inc()
	}
	o.jobs = append(o.jobs, j)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// stop publishes nothing more and waits for the goroutine. Idempotent.
func (o *outbox) stop() {
	o.once.Do(func() { close(o.quit) })
	<-o.done
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		select {
		case <-o.quit:
			return
		case <-o.wake:
		}
		for {
			o.mu.Lock()
			jobs := o.jobs
			o.jobs = nil
			for _, j := range jobs {
				if j.key != "" && o.pending[j.key] == j {
					delete(o.pending, j.key)
				}
			}
			o.mu.Unlock()
			if len(jobs) == 0 {
				break
			}
			for _, j := range jobs {
				if j.skip {
					continue
				}
				select {
				case <-o.quit:
					return
				default:
				}
				o.publish(j)
			}
		}
	}
}

func (o *outbox) publish(j *outJob) {
	r := o.r
	b := r.cfg.Broker
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var err error
	switch j.op {
	case "product":
		if string(j.card) == "null" {
			_, err = b.TakeState(ctx, j.stream, "pinned")
		} else {
			err = b.SetState(ctx, j.stream, "pinned", j.card)
		}
		if err == nil {
			_, err = b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: "product", Data: j.data}, true, r.cfg.HistorySize)
		}
	case "stock":
		err = b.SetState(ctx, j.stream, "stock:"+j.key[len(j.stream)+1:], j.data)
		if err == nil {
			_, err = b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: "stock:" + j.key[len(j.stream)+1:], Data: j.data}, false, 0)
		}
	case "order":
		_, err = b.Publish(ctx, j.stream, Publication{Kind: KindEvent, Key: "order", Data: j.data}, true, r.cfg.HistorySize)
	case "stream":
		_, err = b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: "stream", Data: j.data}, false, 0)
	}
	if err != nil {
		r.brokerError(j.op, err)
	}
}

// StreamStatus tells every viewer of stream its new status ("live",
// "offline", "ended"). It never blocks; safe from any goroutine.
func (r *Rooms) StreamStatus(stream, status string) {
	r.out.add(&outJob{stream: stream, op: "stream", data: encode(streamMsg{Type: typeStream, Status: status})})
}

// ProductCard shows card (any JSON-encodable value with the contract's card
// fields) to every viewer of stream, and keeps it as the pinned card for
// those who join later; nil unpins. It never blocks; safe from any
// goroutine.
func (r *Rooms) ProductCard(stream string, card any) {
	raw := []byte("null")
	if card != nil {
		b, err := json.Marshal(card)
		if err != nil {
			r.cfg.Log.Error("chat: product card does not encode", "stream", stream, "err", err)
			return
		}
		raw = b
	}
	data := encode(productMsg{Type: typeProduct, Card: raw})
	r.out.add(&outJob{stream: stream, op: "product", card: raw, data: data})
}

// StockChanged tells every viewer of stream the stock of sku. Values not yet
// published are replaced by newer ones. It never blocks; safe from any
// goroutine.
func (r *Rooms) StockChanged(stream, sku string, stock int) {
	data := encode(stockMsg{Type: typeStock, SKU: sku, Stock: stock})
	r.out.add(&outJob{stream: stream, op: "stock", key: stream + "\x00" + sku, data: data})
}

// OrderPlaced adds an order to stream's ticker; buyer is a display name. It
// never blocks; safe from any goroutine.
func (r *Rooms) OrderPlaced(stream, sku string, qty int, buyer string) {
	data := encode(orderMsg{Type: typeOrder, SKU: sku, Qty: qty, Buyer: buyer})
	r.out.add(&outJob{stream: stream, op: "order", data: data})
}
