package conf_test

import (
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestAttackFractionBelowOneByte: a value written as more than zero must
// not parse to 0, which the limits that take a Size or Rate read as "no
// limit": "0.5" for a bandwidth limit meant a tiny limit, not none. It is
// refused with an error that names the input; 0 itself, however written,
// stays 0.
func TestAttackFractionBelowOneByte(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"0.5", "0.9B", "0.0001K", "0.000000000000000000000000000001T", ".0000000001M"} {
		var s conf.Size
		err := s.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("Size %q: %d, %v; want an error naming it", in, s, err)
		}
		var r conf.Rate
		err = r.UnmarshalText([]byte(in + "/s"))
		if err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("Rate %q: %d, %v; want an error naming it", in+"/s", r, err)
		}
	}
	for _, in := range []string{"0", "0.0", "0K", "0.000M", ".0"} {
		var s conf.Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != 0 {
			t.Errorf("Size %q: %d, %v; want 0", in, s, err)
		}
	}
	for in, want := range map[string]conf.Size{"1.5": 1, "0.5K": 512, "0.1K": 102, "0.99999999999999999999K": 1023,
		// Above 2^53 a float64 would round the whole part.
		"9007199254740993.5": 9007199254740993, "4194303.9999999999999999T": 1<<62 - 1} {
		var s conf.Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("Size %q: %d, %v; want %d (truncated)", in, s, err, want)
		}
	}
}
