package conf

import (
	"encoding"
	"flag"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// grammarCase is one input of a value type's grammar: the value it
// decodes to, or a piece of the error it must give.
type grammarCase[T any] struct {
	in   string
	want T
	err  string // non-empty: decoding must fail with this in the message
}

// checkGrammar decodes every case through flag.TextVar and through
// toml.Decode of a TOML string, and checks that both give the same value
// or both refuse it.
func checkGrammar[T comparable, P interface {
	*T
	encoding.TextUnmarshaler
}](t *testing.T, cases []grammarCase[T]) {
	t.Helper()
	for _, tc := range cases {
		var fromFlag T
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.TextVar(P(&fromFlag), "v", any(P(new(T))).(encoding.TextMarshaler), "")
		flagErr := fs.Parse([]string{"-v=" + tc.in})

		var doc struct {
			V T `toml:"v"`
		}
		_, tomlErr := toml.Decode("v = "+strconv.Quote(tc.in), &doc)

		if tc.err != "" {
			if flagErr == nil || !strings.Contains(flagErr.Error(), tc.err) {
				t.Errorf("flag %q: err %v, want one with %q", tc.in, flagErr, tc.err)
			}
			if tomlErr == nil || !strings.Contains(tomlErr.Error(), tc.err) {
				t.Errorf("toml %q: err %v, want one with %q", tc.in, tomlErr, tc.err)
			}
			continue
		}
		if flagErr != nil || fromFlag != tc.want {
			t.Errorf("flag %q = %v, %v; want %v", tc.in, fromFlag, flagErr, tc.want)
		}
		if tomlErr != nil || doc.V != tc.want {
			t.Errorf("toml %q = %v, %v; want %v", tc.in, doc.V, tomlErr, tc.want)
		}
	}
}

// sizeCases is the grammar Size and Rate share; K is 1024, as the
// --limit-bandwidth-* flags have always read it.
var sizeCases = []grammarCase[int64]{
	{in: "0", want: 0},
	{in: "65536", want: 65536},
	{in: " 64K ", want: 64 << 10},
	{in: "64k", want: 64 << 10},
	{in: "64KiB", want: 64 << 10},
	{in: "64KB", want: 64 << 10},
	{in: "64Ki", want: 64 << 10},
	{in: "10M", want: 10 << 20},
	{in: "1.5M", want: 3 << 19},
	{in: ".5K", want: 512},
	{in: "2.0G", want: 2 << 30},
	{in: "1G", want: 1 << 30},
	{in: "1T", want: 1 << 40},
	{in: "100B", want: 100},
	{in: "4194304T", want: MaxBytes},
	{in: "4611686018427387904", want: MaxBytes},
	{in: "", err: "empty value"},
	{in: "   ", err: "empty value"},
	{in: "-1", err: "must not be negative"},
	{in: "-10M", err: "must not be negative"},
	{in: "4194305T", err: "too large"},
	{in: "4611686018427387905", err: "too large"},
	{in: "99999999999999999999999", err: "too large"},
	{in: "1.5e30", err: "want"},
	{in: "8E", err: "want"},
	{in: "10 M", err: "want"},
	{in: "+5", err: "want"},
	{in: "1_000", err: "want"},
	{in: "0x10", err: "want"},
	{in: "NaN", err: "want"},
	{in: "Inf", err: "want"},
	{in: "K", err: "want"},
	{in: "KiB", err: "want"},
	{in: "10i", err: "want"},
	{in: "1.2.3", err: "want"},
	{in: ".", err: "want"},
	{in: "10MB/s", err: "want"}, // a size is not a rate
}

func TestSizeGrammar(t *testing.T) {
	cases := make([]grammarCase[Size], len(sizeCases))
	for i, c := range sizeCases {
		cases[i] = grammarCase[Size]{c.in, Size(c.want), c.err}
	}
	checkGrammar(t, cases)
}

func TestRateGrammar(t *testing.T) {
	var cases []grammarCase[Rate]
	for _, c := range sizeCases {
		if c.in == "10MB/s" {
			continue
		}
		cases = append(cases, grammarCase[Rate]{c.in, Rate(c.want), c.err})
	}
	cases = append(cases,
		grammarCase[Rate]{in: "10M/s", want: 10 << 20},
		grammarCase[Rate]{in: "10MiB/s", want: 10 << 20},
		grammarCase[Rate]{in: "512/s", want: 512},
		grammarCase[Rate]{in: "/s", err: "want"},
		grammarCase[Rate]{in: "10M/s/s", err: "want"},
	)
	checkGrammar(t, cases)
}

func TestDurationGrammar(t *testing.T) {
	checkGrammar(t, []grammarCase[Duration]{
		{in: "0", want: 0},
		{in: "30s", want: Duration(30 * time.Second)},
		{in: " 15m ", want: Duration(15 * time.Minute)},
		{in: "1h30m", want: Duration(90 * time.Minute)},
		{in: "250ms", want: Duration(250 * time.Millisecond)},
		{in: "-1s", want: Duration(-time.Second)}, // the field decides
		{in: "", err: "empty value"},
		{in: "900", err: "with a unit"},
		{in: "15 minutes", err: "want a duration"},
		{in: "9999999999h", err: "at most"},
	})
}

// TestBytesTOMLTypes: a TOML integer is the byte count itself, as in the
// files written when these fields were int64; a negative integer is kept
// for the fields that give it a meaning; floats, booleans and tables are
// refused. A TOML integer duration is refused rather than read as
// nanoseconds.
func TestBytesTOMLTypes(t *testing.T) {
	var doc struct {
		S Size     `toml:"s"`
		R Rate     `toml:"r"`
		N Rate     `toml:"n"`
		D Duration `toml:"d"`
	}
	if _, err := toml.Decode("s = 1048576\nr = 10485760\nn = -1\nd = \"5s\"", &doc); err != nil {
		t.Fatal(err)
	}
	if doc.S != 1<<20 || doc.R != 10<<20 || doc.N != -1 || doc.D != Duration(5*time.Second) {
		t.Fatalf("decoded %+v", doc)
	}
	for _, in := range []string{"s = 1.5", "r = true", "r = 4611686018427387905", "s = [1]", "d = 900", "r = { a = 1 }"} {
		if _, err := toml.Decode(in, &doc); err == nil {
			t.Errorf("%s: decoded to %+v, want an error", in, doc)
		}
	}
}

func TestBytesMarshalRoundTrip(t *testing.T) {
	for v, want := range map[Size]string{
		0: "0", 1000: "1000", 1024: "1K", 1536: "1536", 10 << 20: "10M",
		3 << 30: "3G", 5 << 40: "5T", MaxBytes: "4194304T", -1: "-1",
	} {
		b, err := v.MarshalText()
		if err != nil || string(b) != want || v.String() != want || Rate(v).String() != want {
			t.Errorf("%d marshals to %q, %v; want %q", int64(v), b, err, want)
		}
	}
	d, _ := Duration(90 * time.Minute).MarshalText()
	if string(d) != "1h30m0s" {
		t.Errorf("duration marshals to %q", d)
	}
}

// checkBytesRoundTrip: whatever the grammar accepts is within bounds and
// reads back to itself from its own text.
func checkBytesRoundTrip(t *testing.T, in string, rate bool) {
	v, err := parseBytes(in, rate)
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("%q: empty error", in)
		}
		return
	}
	if v < 0 || v > MaxBytes {
		t.Fatalf("%q = %d: out of range", in, v)
	}
	again, err := parseBytes(string(formatBytes(v)), rate)
	if err != nil || again != v {
		t.Fatalf("%q = %d, written %q, read back %d, %v", in, v, formatBytes(v), again, err)
	}
}

// hostileBytes are seeds past the grammar's edges: overflow, float
// spellings, fractions below a byte and above 2^53.
var hostileBytes = []string{"9223372036854775807K", "18446744073709551616", "1e400M", "0x10", "+5", "NaN", "Inf",
	"0.5", ".99999999999999999999K", "9007199254740993.5", "4194303.9999999999999999T", "4194304.0000001T", "1 K", "１"}

func FuzzSize(f *testing.F) {
	for _, c := range sizeCases {
		f.Add(c.in)
	}
	for _, s := range hostileBytes {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { checkBytesRoundTrip(t, in, false) })
}

func FuzzRate(f *testing.F) {
	for _, c := range sizeCases {
		f.Add(c.in)
	}
	f.Add("10M/s")
	for _, s := range hostileBytes {
		f.Add(s + "/s")
	}
	f.Fuzz(func(t *testing.T, in string) { checkBytesRoundTrip(t, in, true) })
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "30s", "1h30m", "-1s", "900", "", "1.5h", "9999999999h", "9223372036854775808ns", "1e400s", "+5s", "NaN", "0x10s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil {
			return
		}
		b, _ := d.MarshalText()
		var again Duration
		if err := again.UnmarshalText(b); err != nil || again != d {
			t.Fatalf("%q = %v, written %q, read back %v, %v", in, time.Duration(d), b, time.Duration(again), err)
		}
	})
}
