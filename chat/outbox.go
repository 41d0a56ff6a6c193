package chat

import "sync"

// maxOutbox bounds the events waiting to be published; beyond it the oldest
// are dropped (and counted as broker errors).
const maxOutbox = 10000

// outJob is one event from another part of livecart (events.go), waiting
// to be published.
type outJob struct {
	stream string
	op     string // product, stock, order, stream, offer, offer_gone, coupon, coupon_gone
	key    string // conflation key within the outbox ("": none)
	sub    string // offer, offer_gone: the viewer
	sku    string // stock, offer, offer_gone
	code   string // coupon, coupon_gone
	data   []byte
	card   []byte // product: the card JSON ("null": unpinned)
	skip   bool   // superseded by a newer job with the same key
}

// outbox makes the events in (events.go, offers.go, coupons.go) cheap and
// non-blocking: they queue here, and one goroutine publishes in order. A
// job still waiting is replaced by a newer one with the same key (a stock
// value, an offer, a coupon).
type outbox struct {
	r    *Rooms
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	jobs    []*outJob
	pending map[string]*outJob // conflation key → waiting job
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
