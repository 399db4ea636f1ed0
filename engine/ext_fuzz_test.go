package engine

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzModeZUpload feeds arbitrary bytes to the MODE Z upload reader: it
// must end (with data, EOF or an error) without panicking, and never
// return more than its bound.
func FuzzModeZUpload(f *testing.F) {
	var ok bytes.Buffer
	zw := zlib.NewWriter(&ok)
	_, _ = zw.Write(bytes.Repeat([]byte("seed "), 1000))
	_ = zw.Close()
	f.Add(ok.Bytes())
	f.Add(ok.Bytes()[:len(ok.Bytes())/2])
	f.Add([]byte{0x78, 0x9c})
	f.Add([]byte{0x78, 0x01, 0x00, 0x00, 0xff, 0xff})
	f.Add([]byte("not zlib"))
	f.Add([]byte{})
	const bound = 64 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newModeZReader(bytes.NewReader(in), bound)
		n, err := io.Copy(io.Discard, r)
		if n > bound {
			t.Fatalf("returned %d bytes past the bound %d", n, bound)
		}
		if errors.Is(err, ErrDecompressedUploadTooLarge) && n != bound {
			t.Fatalf("bound error after %d bytes, want %d", n, bound)
		}
	})
}

// FuzzHashArgs checks the parsers of RANG, the X digest commands and
// OPTS HASH: no panics, and what they accept is consistent.
func FuzzHashArgs(f *testing.F) {
	for _, s := range []string{"0 49", "1 0", "5 2", `"a b" 1 2`, "file 10", "file, 1, 2", `"x""y" 3`, `"`, "", "99999999999999999999 1", "SHA-256", "md5", "crc-32"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if start, end, reset, ok := parseRangArgs(arg); ok && !reset && (start > end || start < 0) {
			t.Fatalf("RANG %q accepted as %d-%d", arg, start, end)
		}
		if name, start, end, ok := parseXHashArgs(arg); ok {
			if name == "" || start < 0 || end < 0 || (end != 0 && end < start) {
				t.Fatalf("X digest %q accepted as %q [%d, %d)", arg, name, start, end)
			}
		}
		if algo, ok := parseHashAlgo(arg); ok {
			if again, ok2 := parseHashAlgo(algo.String()); !ok2 || again != algo {
				t.Fatalf("%q names %v, whose name does not parse back", arg, algo)
			}
		}
		if words, ok := splitQuotedArgs(arg); ok {
			for _, w := range words {
				if w == "" {
					t.Fatalf("%q split into an empty word: %q", arg, words)
				}
			}
		}
	})
}

// FuzzMFMTArgs checks the time argument of MFMT and MDTM: what parses is
// a real UTC time that prints back as its digits.
func FuzzMFMTArgs(f *testing.F) {
	for _, s := range []string{"20240131235959 file", "20240131235959.123 a b", "20241301000000 f", "2024013123595 f", "20240131235959. f", "20240230120000 f", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		tm, rest, ok := splitTimeArg(arg)
		if !ok {
			return
		}
		if rest == "" {
			t.Fatalf("%q accepted without a path", arg)
		}
		whole, _, _ := strings.Cut(strings.SplitN(arg, " ", 2)[0], ".")
		if tm.Location() != time.UTC || tm.Format(mdtmLayout) != whole {
			t.Fatalf("%q parsed as %v", arg, tm)
		}
	})
}
