package cart

import (
	"context"
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
		n, changes, err := s.store.ReleaseExpired(ctx, now, sweepBatch)
		s.stockChanged(changes)
		released += n
		s.metrics.released.Add(float64(n))
		if err != nil {
			return released, storeErr(err)
		}
		if n < sweepBatch || ctx.Err() != nil {
			return released, ctx.Err()
		}
	}
}

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
