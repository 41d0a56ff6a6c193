package cart

import (
	"testing"
	"time"
)

func TestMemoryStore(t *testing.T) {
	testShop(t, func(t *testing.T, now func() time.Time) Store { return NewMemoryStore(now) })
}

func TestMemoryStoreConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return NewMemoryStore(nil) })
}
