package chat

import (
	"strconv"
	"strings"
	"time"
)

// tokenBucket is a small rate limiter owned by one goroutine (a reader);
// per-user line limits use golang.org/x/time/rate in the hub.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(perSecond, burst float64) *tokenBucket {
	return &tokenBucket{rate: perSecond, burst: burst, tokens: burst}
}

func (b *tokenBucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// blocklist matches lines to hold for review: any listed word or phrase,
// case-insensitively.
type blocklist []string

func newBlocklist(words []string) blocklist {
	var b blocklist
	for _, w := range words {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			b = append(b, w)
		}
	}
	return b
}

func (b blocklist) match(text string) bool {
	if len(b) == 0 {
		return false
	}
	t := strings.ToLower(text)
	for _, w := range b {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
