package chat

import "strings"

// blocklist matches lines to hold for review: any listed word or phrase,
// case-insensitively. It is immutable once made.
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
