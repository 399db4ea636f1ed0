package conf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxBytes is the largest Size or Rate the grammar accepts: 4 EiB (2^62
// bytes, or bytes per second), far above any real limit and within int64
// with room for a caller's arithmetic (a sum of a MaxBytes and a smaller
// count does not overflow).
const MaxBytes = 1 << 62

// Size is a count of bytes that reads from and writes to text, so that a
// command-line flag (flag.TextVar) and a TOML key take the same spelling.
//
// The grammar: a decimal number, optionally with a fraction ("1.5M"),
// then optionally a unit K, M, G or T (either case), optionally followed
// by "i" and then "B": "65536", "64K", "64KiB", "64KB", "10M", "1G".
// Units are powers of 1024 (K = 1024, M = 1024²), as FTP servers and
// their operators count transfer sizes and bandwidth; "KB" and "KiB" mean
// the same. A fractional result is truncated to whole bytes, but one
// below a byte ("0.5", "0.0001K") is refused rather than read as 0. Signs,
// exponents, spaces inside the number, values above MaxBytes, and the
// empty string are refused with an error that names the input. Spaces
// around the value are ignored.
//
// In a TOML file the value may also be an integer, the byte count itself
// (as the int64 fields Size replaces took it). A negative integer is kept
// as it is, for the fields that give negatives a meaning (an override's
// "no limit"); every other field's Validate refuses it.
type Size int64

// Rate is bytes per second, with Size's grammar and an optional "/s"
// after it: "1048576", "512K", "10M/s", "10MiB/s". Its TOML integer form
// is the same as Size's.
type Rate int64

// UnmarshalText parses b with Size's grammar.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := parseBytes(string(b), false)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// MarshalText writes the size in the grammar UnmarshalText reads, with
// the largest unit that divides it exactly ("10M", "1536K", "1000").
func (s Size) MarshalText() ([]byte, error) { return formatBytes(int64(s)), nil }

// String returns the text MarshalText writes.
func (s Size) String() string { return string(formatBytes(int64(s))) }

// UnmarshalTOML takes a TOML string through UnmarshalText and a TOML
// integer as the byte count; other TOML types are refused.
func (s *Size) UnmarshalTOML(v any) error {
	n, err := tomlBytes(v, false)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// UnmarshalText parses b with Rate's grammar.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := parseBytes(string(b), true)
	if err != nil {
		return err
	}
	*r = Rate(v)
	return nil
}

// MarshalText writes the rate as Size.MarshalText does, without "/s".
func (r Rate) MarshalText() ([]byte, error) { return formatBytes(int64(r)), nil }

// String returns the text MarshalText writes.
func (r Rate) String() string { return string(formatBytes(int64(r))) }

// UnmarshalTOML takes a TOML string through UnmarshalText and a TOML
// integer as bytes per second; other TOML types are refused.
func (r *Rate) UnmarshalTOML(v any) error {
	n, err := tomlBytes(v, true)
	if err != nil {
		return err
	}
	*r = Rate(n)
	return nil
}

// tomlBytes decodes a TOML value for Size (rate false) or Rate.
func tomlBytes(v any, rate bool) (int64, error) {
	switch v := v.(type) {
	case string:
		return parseBytes(v, rate)
	case int64:
		if v > MaxBytes {
			return 0, fmt.Errorf("%d: %w", v, errTooLarge)
		}
		return v, nil // negatives: see Size
	}
	return 0, fmt.Errorf("%v: %s", v, bytesWant(rate))
}

// Errors of the byte grammar, wrapped with the input.
var (
	errEmpty    = errors.New("empty value")
	errNegative = errors.New("must not be negative")
	errTooLarge = errors.New("too large: at most 4 EiB")
	errBelowOne = errors.New("less than one byte: write 0 for none, or at least 1")
)

// bytesWant says what the grammar takes.
func bytesWant(rate bool) string {
	if rate {
		return "want bytes per second such as 1048576, 512K or 10M (K = 1024)"
	}
	return "want a number of bytes such as 65536, 64K, 10M or 1G (K = 1024)"
}

// parseBytes parses Size's grammar, with "/s" allowed at the end when
// rate is set.
func parseBytes(in string, rate bool) (int64, error) {
	s := strings.TrimSpace(in)
	if s == "" {
		return 0, fmt.Errorf("%w: %s", errEmpty, bytesWant(rate))
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q: %w", in, errNegative)
	}
	if rate {
		s = strings.TrimSuffix(s, "/s")
	}
	s = strings.TrimSuffix(s, "B")
	var shift uint
	if n := len(s); n > 0 {
		t := s
		if t[n-1] == 'i' {
			t = t[:n-1]
		}
		if n := len(t); n > 0 {
			switch t[n-1] {
			case 'k', 'K':
				shift = 10
			case 'm', 'M':
				shift = 20
			case 'g', 'G':
				shift = 30
			case 't', 'T':
				shift = 40
			}
		}
		if shift != 0 {
			s = t[:len(t)-1]
		} else if t != s { // an "i" without a unit
			return 0, fmt.Errorf("%q: %s", in, bytesWant(rate))
		}
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !digits(whole) || !digits(frac) || whole+frac == "" || (dot && frac == "" && whole == "") {
		return 0, fmt.Errorf("%q: %s", in, bytesWant(rate))
	}
	if whole == "" {
		whole = "0"
	}
	n, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || n > MaxBytes>>shift {
		return 0, fmt.Errorf("%q: %w", in, errTooLarge)
	}
	n <<= shift
	if dot && strings.Trim(frac, "0") != "" {
		// The fraction on its own, so that whole numbers above 2^53
		// keep every digit; 0.frac × 2^shift is below 2^40 and exact
		// where it is a whole number (a dyadic fraction parses exactly).
		f, _ := strconv.ParseFloat("0."+frac, 64) // digits only: cannot fail
		f = min(f, math.Nextafter(1, 0))          // ".99999999999999999" rounds to 1
		n += uint64(math.Ldexp(f, int(shift)))
		if n > MaxBytes {
			return 0, fmt.Errorf("%q: %w", in, errTooLarge)
		}
		if n == 0 {
			// 0 reads as "no limit" in most fields: a value written
			// as more than zero must not become one.
			return 0, fmt.Errorf("%q: %w", in, errBelowOne)
		}
	}
	return int64(n), nil
}

// digits reports whether s holds only ASCII digits (or nothing).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatBytes writes n with the largest unit that divides it exactly.
func formatBytes(n int64) []byte {
	if n > 0 {
		for _, u := range []struct {
			shift uint
			name  string
		}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
			if n&(1<<u.shift-1) == 0 {
				return append(strconv.AppendInt(nil, n>>u.shift, 10), u.name...)
			}
		}
	}
	return strconv.AppendInt(nil, n, 10)
}

// Duration is a time.Duration that reads from and writes to Go duration
// text ("30s", "15m", "1h30m", "-1s", "0"), in flags (flag.TextVar) and in
// TOML files alike. A bare number other than 0 is refused: "900" and the
// TOML integer 900 both lack a unit, where BurntSushi/toml would read an
// integer into a time.Duration as nanoseconds. Whether a negative or zero
// duration is allowed is up to the field that holds it.
type Duration time.Duration

// UnmarshalText parses a Go duration string, surrounding spaces ignored.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		switch {
		case s == "":
			return errors.New(`empty value: want a duration such as "30s", "15m" or "1h30m"`)
		case strings.Contains(err.Error(), "missing unit"):
			return fmt.Errorf("%q: want a duration with a unit, such as \"30s\", \"15m\" or \"1h30m\"", s)
		}
		return fmt.Errorf("%q: want a duration such as \"30s\", \"15m\" or \"1h30m\", at most 2562047h", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// String returns the text MarshalText writes.
func (d Duration) String() string { return time.Duration(d).String() }
