package api

import "unicode/utf8"

// Text checks a single-line text field a client sent (a chat line, a
// description): valid UTF-8, no control characters (C0, DEL, C1, and the
// line and paragraph separators U+2028 and U+2029), and at most max code
// points when max > 0. It neither trims nor requires s to be non-empty;
// callers decide that. The error is a BadRequest whose detail names field.
func Text(field, s string, max int) error {
	return checkText(field, s, max, false)
}

// Name is Text for names and titles that others see next to their own text
// (display names, stream titles, product names): it also refuses the Unicode
// bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A to
// U+202E, U+2066 to U+2069), with which a name could reorder the text
// around it.
func Name(field, s string, max int) error {
	return checkText(field, s, max, true)
}

func checkText(field, s string, max int, name bool) error {
	if !utf8.ValidString(s) {
		return Errorf(BadRequest, "%s must be valid UTF-8", field)
	}
	n := 0
	for _, r := range s {
		n++
		switch {
		case isControl(r):
			return Errorf(BadRequest, "%s must not contain control characters (%U at character %d)", field, r, n)
		case name && isBidiControl(r):
			return Errorf(BadRequest, "%s must not contain bidirectional formatting characters (%U at character %d)", field, r, n)
		}
	}
	if max > 0 && n > max {
		return Errorf(BadRequest, "%s is longer than %d characters", field, max)
	}
	return nil
}

// isControl reports the C0 and C1 controls, DEL, and the line and paragraph
// separators: everything that breaks or hides a line.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029'
}

// isBidiControl reports the characters that change the direction of the
// text around them: the Arabic letter mark, the left-to-right and
// right-to-left marks, embeddings, overrides and isolates.
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
