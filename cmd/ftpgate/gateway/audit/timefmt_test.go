package audit

import (
	"math/rand/v2"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// TestTimeFormatsMatchAppendFormat: the hand-written time formats write
// the bytes time.AppendFormat writes for the audit line's layout (UTC)
// and xferlog's (time.ANSIC in the log's zone): around the epoch, leap
// days, the turn of centuries, zone changes, the four-digit years' ends
// and random instants from year 1 to 9999, in zones east and west, with
// odd offsets and with historic local mean time.
func TestTimeFormatsMatchAppendFormat(t *testing.T) {
	t.Parallel()
	locs := []*time.Location{time.UTC, time.FixedZone("odd", 5*3600+45*60), time.FixedZone("west", -(9*3600 + 30*60 + 7))}
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Kiritimati", "Asia/Kathmandu"} {
		if loc, err := time.LoadLocation(name); err == nil {
			locs = append(locs, loc)
		}
	}
	var ts []time.Time
	for _, d := range []time.Time{
		time.Unix(0, 0), time.Unix(-1, 999_999_999), time.Date(2000, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 2, 28, 12, 0, 0, 1000, time.UTC),
		time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 0, 59, 59, 500, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Now(),
	} {
		for _, off := range []time.Duration{-25 * time.Hour, -time.Second, 0, time.Second, 25 * time.Hour} {
			ts = append(ts, d.Add(off))
		}
	}
	r := rand.New(rand.NewPCG(17, 17))
	lo, hi := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	for range 20000 {
		ts = append(ts, time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9)))
	}
	for _, tm := range ts {
		if got, want := string(appendRFC3339Micro([]byte("x"), tm)), "x"+tm.UTC().Format(timeLayout); got != want {
			t.Fatalf("%v: audit time %q, want %q", tm, got, want)
		}
		for _, loc := range locs {
			if got, want := string(appendANSIC([]byte("x"), tm, loc)), "x"+tm.In(loc).Format(time.ANSIC); got != want {
				t.Fatalf("%v in %v: xferlog time %q, want %q", tm, loc, got, want)
			}
		}
	}
}

// cleanRuneByRune is appendClean as it was before its ASCII fast path:
// the reference the fast path must match byte for byte.
func cleanRuneByRune(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || unicode.IsSpace(r) || !unicode.IsGraphic(r) {
			b = append(b, '_')
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// TestAppendCleanMatchesRuneByRune: xferlog's name cleaning writes the
// same bytes as judging every rune, for every byte value, every rune,
// the hostile name, and random byte strings (invalid UTF-8 among them).
func TestAppendCleanMatchesRuneByRune(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		t.Helper()
		if got, want := appendClean([]byte("x"), s), cleanRuneByRune([]byte("x"), s); string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("ab" + string([]byte{byte(c)}) + "cd")
	}
	var buf [utf8.UTFMax + 2]byte
	for r := rune(0); r <= unicode.MaxRune; r++ {
		check(string(utf8.AppendRune(append(buf[:0], 'a'), r)) + "z")
	}
	check(hostile)
	check("/home/bob/my report.pdf")
	rnd := rand.New(rand.NewPCG(13, 17))
	for range 20000 {
		b := make([]byte, rnd.IntN(24))
		for i := range b {
			b[i] = byte(rnd.UintN(256))
			if rnd.IntN(2) == 0 {
				const some = "a ~\x7f\xc2\x85\xe2\x80\xa8\xf0\x9f"
				b[i] = some[rnd.IntN(len(some))]
			}
		}
		check(string(b))
	}
}
