package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/afero"
)

func TestHostileLinesGetAClearReplyAndTheSessionGoesOn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	manyArgs := "NOOP" + strings.Repeat(" arg", 1500) + "\r\n"
	cases := []struct {
		name string
		raw  string
		code int
	}{
		{"NUL byte", "NO\x00OP\r\n", 501},
		{"NUL byte in an argument", "MKD a\x00b\r\n", 501},
		{"CR in the middle", "NO\rOP\r\n", 501},
		{"CR before the argument", "MKD \rx\r\n", 501},
		{"tab", "NOOP\tx\r\n", 501},
		{"escape sequence", "MKD \x1b[31mred\r\n", 501},
		{"DEL byte", "MKD a\x7fb\r\n", 501},
		{"invalid UTF-8", "MKD \xc3\x28\r\n", 501},
		{"Latin-1 name", "MKD caf\xe9\r\n", 501},
		{"telnet IAC IAC", "NO\xff\xffOP\r\n", 501},
		{"empty line", "\r\n", 500},
		{"bare LF empty line", "\n", 500},
		{"only spaces", "    \r\n", 500},
		{"space before the verb", " NOOP\r\n", 500},
		{"punctuation in the verb", "NO-OP\r\n", 500},
		{"verb starting with a digit", "1NOOP\r\n", 500},
		{"over-long verb", strings.Repeat("A", 40) + "\r\n", 500},
		{"bare LF line ending", "NOOP\n", 200},
		{"lower case verb", "noop\r\n", 200},
		{"telnet IP and DM before ABOR", "\xff\xf4\xff\xf2ABOR\r\n", 225},
		{"telnet IP and Synch whose DM a balancer dropped", "\xff\xf4\xffABOR\r\n", 225},
		{"lone IAC before a verb", "\xffNOOP\r\n", 200},
		{"telnet option negotiation", "\xff\xfb\x01NOOP\r\n", 200},
		{"telnet IAC at the end", "NOOP\xff\r\n", 200},
		{"very many arguments", manyArgs, 200},
		{"arguments to a command that takes none", "PWD a b c\r\n", 501},
		{"only spaces as a required argument", "MKD    \r\n", 501},
	}
	// The subtests are quick: run in turn, they need no parallel slots.
	t.Run("lines", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := ts.login(t)
				ptWriteRaw(t, c, []byte(tc.raw))
				if code, text := c.read(); code != tc.code {
					t.Fatalf("%q: got %d %s, want %d", ptShort([]byte(tc.raw)), code, text, tc.code)
				}
				c.expect("NOOP", 200)
				c.expect("PWD", 257)
			})
		}
	})
	ptAssertServing(t, ts)
	if entries, err := afero.ReadDir(ts.driver.fs, "/"); err != nil || len(entries) != 0 {
		t.Fatalf("after the hostile lines the root holds %d entries (%v)", len(entries), err)
	}
}

func TestHostileLinesBeforeLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial(t)
	ptWriteRaw(t, c, []byte("USER te\x00st\r\n"))
	c.expectRead(501)
	ptWriteRaw(t, c, []byte("USER \xc3test\r\n"))
	c.expectRead(501)
	// The refused lines left no user name behind.
	c.expect("PASS test", 503)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
}

func TestLineLengthLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	noopOfLength := func(n int) []byte { // n bytes, CRLF included
		return []byte("NOOP " + strings.Repeat("x", n-len("NOOP ")-2) + "\r\n")
	}
	ptWriteRaw(t, c, noopOfLength(maxLineLength))
	c.expectRead(200)
	ptWriteRaw(t, c, noopOfLength(maxLineLength+1))
	if text := c.expectRead(500); !strings.Contains(text, "too long") {
		t.Fatalf("reply to an over-long line: %q", text)
	}
	// What follows the over-long line in the same write is a new line.
	ptWriteRaw(t, c, append(noopOfLength(3*maxLineLength), "PWD\r\n"...))
	c.expectRead(500)
	c.expectRead(257)
	// A megabyte without a line end is skipped, not buffered.
	ptWriteRaw(t, c, append(bytes.Repeat([]byte("A"), 1<<20), "\r\n"...))
	c.expectRead(500)
	c.expect("NOOP", 200)
	ptAssertServing(t, ts)
}

func TestFiveBadLinesClose421(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	long := strings.Repeat("Z", maxLineLength+10)
	cases := []struct {
		name string
		bad  string
		code int
	}{
		{"NUL bytes", "NO\x00OP", 501},
		{"invalid UTF-8", "\xfe\xfe", 501},
		{"empty lines", "", 500},
		{"over-long lines", long, 500},
	}
	t.Run("sessions", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := ts.login(t)
				for i := 1; i < maxBadLines; i++ {
					ptWriteRaw(t, c, []byte(tc.bad+"\r\n"))
					c.expectRead(tc.code)
				}
				ptWriteRaw(t, c, []byte(tc.bad+"\r\n"))
				c.expectRead(tc.code)
				c.expectRead(421)
				ptExpectClosed(t, c)
			})
		}
		t.Run("before login", func(t *testing.T) {
			c := ts.dial(t)
			ptWriteRaw(t, c, bytes.Repeat([]byte("\r\n"), maxBadLines))
			for range maxBadLines {
				c.expectRead(500)
			}
			c.expectRead(421)
			ptExpectClosed(t, c)
		})
	})
	ptAssertServing(t, ts)
}

func TestUnknownVerbsAreNotBadLines(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	for range 3 * maxBadLines {
		c.expect("XYZZY", 502)
	}
	c.expect("NOOP", 200)
}

func TestPipelinedCommandsAreAnsweredInOrder(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial(t)
	ptWriteRaw(t, c, []byte("USER test\r\nPASS test\r\nMKD p\r\nCWD p\r\nPWD\nNOOP\r\nQUIT\r\n"))
	for _, code := range []int{331, 230, 257, 250} {
		c.expectRead(code)
	}
	if text := c.expectRead(257); !strings.HasPrefix(text, `"/p"`) {
		t.Fatalf("PWD: %q", text)
	}
	c.expectRead(200)
	c.expectRead(221)
	ptExpectClosed(t, c)
}

func TestClientVanishingMidLineLeavesServerServing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, partial := range []string{"NOO", "STOR half-a-na", strings.Repeat("Q", 3*maxLineLength)} {
		c := ts.login(t)
		ptWriteRaw(t, c, []byte(partial))
		_ = c.conn.Close()
	}
	ptAssertServing(t, ts)
}

func TestSilentClientIsClosedWith421(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.IdleTimeout = 1 }))
	for _, partial := range []string{"", "NOOP without its line end"} {
		c := ts.login(t)
		ptWriteRaw(t, c, []byte(partial))
		if text := c.expectRead(421); !strings.Contains(text, "Idle") {
			t.Fatalf("idle reply %q", text)
		}
		ptExpectClosed(t, c)
	}
}
