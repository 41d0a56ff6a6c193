package cart

import (
	"context"
	"errors"
	"time"
)

// sweepBatch is how many lapsed holds one Sweep pass releases at most per
// store call.
const sweepBatch = 100

// Sweep gives back the stock of every cart whose hold has ended by now and
// tells the rooms. It is safe to run on several nodes at once: the store
// releases each hold exactly once. Run calls it every SweepEvery; tests
// with an injected clock call it directly.
func (s *Shop) Sweep(ctx context.Context) (released int, err error) {
	now := s.now()
	for {
		users, err := s.store.HeldCarts(ctx, now, sweepBatch)
		if err != nil {
			return released, storeErr(err)
		}
		batch := 0
		for _, u := range users {
			ok, err := s.release(ctx, u, now)
			if err != nil {
				return released, err
			}
			if ok {
				batch++
				s.metrics.released.Inc()
			}
		}
		released += batch
		if len(users) < sweepBatch || batch == 0 || ctx.Err() != nil {
			break
		}
	}
	// Offers that lapsed pass to the next in line.
	for {
		n, err := s.passOffers(ctx, now)
		if err != nil {
			return released, err
		}
		if n == 0 || n < sweepBatch || ctx.Err() != nil {
			return released, ctx.Err()
		}
	}
}

// release gives back the stock of user's cart when its hold has lapsed by
// now; the lines stay. Nodes sweeping at once release each hold once: the
// second finds the cart changed and, reading it again, nothing to do.
func (s *Shop) release(ctx context.Context, user string, now time.Time) (bool, error) {
	released, stream := false, ""
	a, err := s.run(ctx, func() (Plan, error) {
		c, err := s.store.Cart(ctx, user)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		released = c.Held && !now.Before(c.HeldUntil)
		if !released {
			return Plan{}, errNothingToDo
		}
		deltas := map[string]int{}
		for _, l := range c.Lines {
			deltas[l.SKU] += l.Qty
		}
		limits, err := s.limitsOf(ctx, c.Stream, user, deltas)
		if err != nil {
			return Plan{}, err
		}
		stream = c.Stream
		c.Held = false
		return Plan{
			Expect:   []Expect{{Kind: ExpectCart, ID: user, Rev: c.Rev}},
			Stock:    stockDeltas(deltas),
			Counters: limits,
			Cart:     &CartWrite{User: user, Cart: &c},
		}, nil
	})
	if errors.Is(err, errNothingToDo) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.stockChanged(a.Changes)
	s.stockReturned(ctx, stream, a.Changes)
	return released, nil
}

// errNothingToDo is what a decide function returns when there is nothing
// to apply.
var errNothingToDo = errors.New("cart: nothing to do")

func (s *Shop) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			s.log.Warn("cart: sweeping lapsed holds failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("cart: sweeping lapsed holds works again")
			failing = false
		}
	}
}
