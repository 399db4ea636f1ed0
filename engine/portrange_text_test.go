package engine

import (
	"flag"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestPortRangeText: --passive-ports and a TOML key read the same text to
// the same range, and refuse the same text with the same message.
func TestPortRangeText(t *testing.T) {
	for _, tc := range []struct {
		in         string
		start, end int
		err        string
	}{
		{in: "50000-50100", start: 50000, end: 50100},
		{in: " 1024 - 65535 ", start: 1024, end: 65535},
		{in: "2121-2121", start: 2121, end: 2121},
		{in: "", err: "empty value"},
		{in: "50000", err: "want LOW-HIGH"},
		{in: "a-b", err: "want LOW-HIGH"},
		{in: "50000-", err: "want LOW-HIGH"},
		{in: "-1-5", err: "want LOW-HIGH"},
		{in: "1-2-3", err: "want LOW-HIGH"},
		{in: "80-1000", err: "from 1024 to 65535"},
		{in: "1023-2000", err: "from 1024 to 65535"},
		{in: "50000-65536", err: "from 1024 to 65535"},
		{in: "50100-50000", err: "LOW must not be above HIGH"},
		{in: "50000-99999999999999999999", err: "want LOW-HIGH"},
	} {
		var fromFlag PortRange
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.TextVar(&fromFlag, "passive-ports", &PortRange{}, "")
		flagErr := fs.Parse([]string{"-passive-ports=" + tc.in})
		var doc struct {
			Ports PortRange `toml:"ports"`
		}
		_, tomlErr := toml.Decode("ports = "+strconv.Quote(tc.in), &doc)
		if tc.err != "" {
			for name, err := range map[string]error{"flag": flagErr, "toml": tomlErr} {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s %q: err %v, want one with %q", name, tc.in, err, tc.err)
				}
			}
			continue
		}
		for name, r := range map[string]*PortRange{"flag": &fromFlag, "toml": &doc.Ports} {
			if r.Start != tc.start || r.End != tc.end {
				t.Errorf("%s %q = %d-%d; want %d-%d", name, tc.in, r.Start, r.End, tc.start, tc.end)
			}
		}
		if flagErr != nil || tomlErr != nil {
			t.Errorf("%q: %v, %v", tc.in, flagErr, tomlErr)
		}
		if b, _ := fromFlag.MarshalText(); string(b) != strconv.Itoa(tc.start)+"-"+strconv.Itoa(tc.end) {
			t.Errorf("%q marshals to %q", tc.in, b)
		}
	}
	if b, err := (&PortRange{}).MarshalText(); len(b) != 0 || err != nil {
		t.Errorf("the zero range marshals to %q, %v; want nothing", b, err)
	}
}

// FuzzPortRange: an accepted range is within 1024-65535, in order, and
// reads back from its own text.
func FuzzPortRange(f *testing.F) {
	for _, s := range []string{"50000-50100", "1024-65535", "", "1-2-3", "80-90", " 2000 - 3000 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var r PortRange
		if err := r.UnmarshalText([]byte(in)); err != nil {
			return
		}
		if r.Start < 1024 || r.End > 65535 || r.Start > r.End {
			t.Fatalf("%q = %d-%d", in, r.Start, r.End)
		}
		b, _ := r.MarshalText()
		var again PortRange
		if err := again.UnmarshalText(b); err != nil || again.Start != r.Start || again.End != r.End {
			t.Fatalf("%q: written %q, read back %d-%d, %v", in, b, again.Start, again.End, err)
		}
	})
}
