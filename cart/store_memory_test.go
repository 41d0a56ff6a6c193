package cart

import (
	"testing"
	"time"
)

func TestMemoryStore(t *testing.T) {
	testShop(t, func(t *testing.T, now func() time.Time) Store { return NewMemoryStore(now) })
}
