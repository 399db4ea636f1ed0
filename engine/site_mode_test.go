package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestSITECHMODRefusesSpecialBits: setuid, setgid and sticky are refused
// with 504 for every driver, and the file keeps its mode; a leading zero
// is still a plain mode.
func TestSITECHMODRefusesSpecialBits(t *testing.T) {
	fs, dir := extOSFs(t)
	extWrite(t, fs, "/tool", []byte("#!/bin/sh\n"))
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	c.expect("SITE CHMOD 0750 tool", 200)
	for _, mode := range []string{"4755", "2755", "1777", "7777", "4000", "6750"} {
		c.expect("SITE CHMOD "+mode+" tool", 504)
		fi, err := os.Stat(filepath.Join(dir, "tool"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 || fi.Mode().Perm() != 0o750 {
			t.Fatalf("after SITE CHMOD %s: mode %v, want 0750 unchanged", mode, fi.Mode())
		}
	}
	c.expect("SITE CHMOD 4755 /", 504)
}

// FuzzParseOctalMode: whatever the word, a mode is accepted only for one
// to four octal digits, and it carries exactly the bits they name.
func FuzzParseOctalMode(f *testing.F) {
	for _, s := range []string{"644", "0755", "4755", "7777", "8", "", "00000", "-1", "+7", "0x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mode, ok := parseOctalMode(s)
		n, err := strconv.ParseUint(s, 8, 16)
		want := err == nil && len(s) >= 1 && len(s) <= 4
		for _, r := range s {
			if r < '0' || r > '7' {
				want = false
			}
		}
		if ok != want {
			t.Fatalf("parseOctalMode(%q) ok=%v, want %v", s, ok, want)
		}
		if !ok {
			return
		}
		if mode.Perm() != os.FileMode(n&0o777) ||
			(mode&os.ModeSetuid != 0) != (n&0o4000 != 0) ||
			(mode&os.ModeSetgid != 0) != (n&0o2000 != 0) ||
			(mode&os.ModeSticky != 0) != (n&0o1000 != 0) ||
			mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			t.Fatalf("parseOctalMode(%q) = %v for %o", s, mode, n)
		}
	})
}
