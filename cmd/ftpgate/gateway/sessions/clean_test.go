package sessions

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanReason: whatever a caller sends, the reason is one non-empty
// line of printable UTF-8, without leading or trailing space, of at most
// MaxReason bytes, and cleaning it again changes nothing.
func FuzzCleanReason(f *testing.F) {
	for _, s := range []string{"", "ok", "a\r\n226 x", "\x00\x1b[2J", "\u2028\u0085", "\xff\xfe", strings.Repeat("é", 300), strings.Repeat(" ", 500) + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CleanReason(in)
		if out == "" || len(out) > MaxReason || !utf8.ValidString(out) || out != strings.TrimSpace(out) {
			t.Fatalf("CleanReason(%q) = %q", in, out)
		}
		for _, r := range out {
			if !unicode.IsPrint(r) || r == utf8.RuneError {
				t.Fatalf("CleanReason(%q) = %q holds %U", in, out, r)
			}
		}
		if again := CleanReason(out); again != out {
			t.Fatalf("CleanReason is not stable: %q then %q", out, again)
		}
	})
}

// TestBound: client-chosen text is cut to maxField bytes without
// splitting a character.
func TestBound(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", maxField+10), strings.Repeat("a", maxField)},
		{"a" + strings.Repeat("é", maxField), "a" + strings.Repeat("é", (maxField-1)/2)},
		{strings.Repeat("a", maxField-1) + "€", strings.Repeat("a", maxField-1)},
	} {
		if got := bound(tc.in); got != tc.want {
			t.Errorf("bound(%.20q...) = %d bytes, want %d", tc.in, len(got), len(tc.want))
		}
	}
}
