package api

import (
	"strings"
	"testing"
)

func TestTextAndName(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		max     int
		textErr string // "" when Text accepts s
		nameErr string // "" when Name accepts s
	}{
		{name: "plain", s: "Ana", max: 40},
		{name: "non-ASCII", s: "Zoë 🌸 日本", max: 40},
		{name: "empty", s: "", max: 40},
		{name: "exactly max code points", s: strings.Repeat("ñ", 40), max: 40},
		{name: "over max code points", s: strings.Repeat("ñ", 41), max: 40, textErr: "longer than 40 characters", nameErr: "longer than 40 characters"},
		{name: "no bound", s: strings.Repeat("a", 5000), max: 0},
		{name: "invalid UTF-8", s: "Ana\xff", max: 40, textErr: "valid UTF-8", nameErr: "valid UTF-8"},
		{name: "truncated UTF-8", s: "Zo\xc3", max: 40, textErr: "valid UTF-8", nameErr: "valid UTF-8"},
		{name: "NUL", s: "a\x00b", max: 40, textErr: "control characters (U+0000", nameErr: "control characters"},
		{name: "newline", s: "line one\nline two", max: 40, textErr: "control characters (U+000A", nameErr: "control characters"},
		{name: "carriage return", s: "a\rb", max: 40, textErr: "control characters", nameErr: "control characters"},
		{name: "tab", s: "a\tb", max: 40, textErr: "control characters", nameErr: "control characters"},
		{name: "escape", s: "\x1b[31mred", max: 40, textErr: "control characters", nameErr: "control characters"},
		{name: "DEL", s: "a\x7fb", max: 40, textErr: "control characters (U+007F", nameErr: "control characters"},
		{name: "C1 control", s: "a\u0085b", max: 40, textErr: "control characters (U+0085", nameErr: "control characters"},
		{name: "C1 last", s: "a\u009fb", max: 40, textErr: "control characters", nameErr: "control characters"},
		{name: "line separator", s: "a\u2028b", max: 40, textErr: "control characters", nameErr: "control characters"},
		{name: "paragraph separator", s: "a\u2029b", max: 40, textErr: "control characters", nameErr: "control characters"},
		{name: "right-to-left override", s: "moc.\u202egnp", max: 40, nameErr: "bidirectional formatting characters (U+202E"},
		{name: "left-to-right embedding", s: "a\u202ab", max: 40, nameErr: "bidirectional"},
		{name: "pop directional formatting", s: "a\u202cb", max: 40, nameErr: "bidirectional"},
		{name: "first strong isolate", s: "a\u2068b", max: 40, nameErr: "bidirectional"},
		{name: "left-to-right isolate", s: "a\u2066b", max: 40, nameErr: "bidirectional"},
		{name: "pop directional isolate", s: "a\u2069b", max: 40, nameErr: "bidirectional"},
		{name: "left-to-right mark", s: "a\u200eb", max: 40, nameErr: "bidirectional"},
		{name: "right-to-left mark", s: "a\u200fb", max: 40, nameErr: "bidirectional"},
		{name: "Arabic letter mark", s: "a\u061cb", max: 40, nameErr: "bidirectional"},
		{name: "Arabic and Hebrew letters", s: "مرحبا שלום", max: 40},
		{name: "zero-width joiner", s: "👩\u200d💻", max: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(fn string, err error, want string) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Errorf("%s(%q) = %v, want nil", fn, tt.s, err)
					}
					return
				}
				if err == nil {
					t.Errorf("%s(%q) = nil, want an error containing %q", fn, tt.s, want)
					return
				}
				if CodeOf(err) != BadRequest || !strings.HasPrefix(err.Error(), "title ") || !strings.Contains(err.Error(), want) {
					t.Errorf("%s(%q) = %q (code %s), want bad_request naming the field and containing %q", fn, tt.s, err, CodeOf(err), want)
				}
			}
			check("Text", Text("title", tt.s, tt.max), tt.textErr)
			check("Name", Name("title", tt.s, tt.max), tt.nameErr)
		})
	}
}
