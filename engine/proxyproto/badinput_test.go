package proxyproto

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	pp "github.com/pires/go-proxyproto"
)

// v2Raw builds a version 2 header by hand: command byte, family byte and
// the body after the length field, whose length it writes (or claims).
func v2Raw(cmd, fam byte, claimed int, body []byte) []byte {
	b := append([]byte(nil), pp.SIGV2...)
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(claimed))
	return append(b, body...)
}

// ipv4Body is the address block of 192.0.2.1:1000 → 127.0.0.1:21.
var ipv4Body = []byte{192, 0, 2, 1, 127, 0, 0, 1, 0x03, 0xe8, 0, 21}

func TestMalformedHeadersAreDropped(t *testing.T) {
	t.Parallel()
	oversizedTLV := append(append([]byte(nil), ipv4Body...), 0xE0, 0x13, 0x88) // one TLV claiming 5000 bytes
	oversizedTLV = append(oversizedTLV, bytes.Repeat([]byte{'x'}, 5000)...)
	for _, tc := range []struct {
		name   string
		header []byte
		logs   string
	}{
		{"v1-garbage-family", []byte("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), "malformed PROXY header"},
		{"v1-bad-address", []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), "malformed PROXY header"},
		{"v1-bad-port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n"), "malformed PROXY header"},
		{"v1-no-crlf", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "malformed PROXY header"},
		{"v1-too-long", append([]byte("PROXY TCP4 "), bytes.Repeat([]byte{'1'}, 200)...), "malformed PROXY header"},
		{"v2-bad-version", v2Raw(0x31, 0x11, 12, ipv4Body), "malformed PROXY header"},
		{"v2-bad-command", v2Raw(0x2F, 0x11, 12, ipv4Body), "malformed PROXY header"},
		{"v2-bad-family", v2Raw(0x21, 0x41, 12, ipv4Body), "malformed PROXY header"},
		{"v2-short-address-block", v2Raw(0x21, 0x11, 4, ipv4Body[:4]), "malformed PROXY header"},
		{"v2-oversized", v2Raw(0x21, 0x11, len(oversizedTLV), oversizedTLV), "malformed PROXY header"},
		{"v2-truncated-tlv", v2Raw(0x21, 0x11, 15, append(append([]byte(nil), ipv4Body...), 0x02, 0x00, 0x09)), "malformed PROXY header TLVs"},
		{"v2-udp", v2Raw(0x21, 0x12, 12, ipv4Body), "transport other than TCP"},
		{"v2-unix", v2Raw(0x21, 0x31, 216, make([]byte, 216)), "transport other than TCP"},
		{"no-header-required", []byte("USER u\r\n"), "no PROXY header from a trusted balancer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
			c := dial(t, "127.0.0.1", ts.addr, tc.header)
			c.closed() // no banner: the header is refused first
			ts.log.mustLog(t, "proxyproto: connection dropped", tc.logs)
			if admitted, _, _ := ts.seen.snapshot(); len(admitted) != 0 {
				t.Fatalf("a dropped connection reached admission: %v", admitted)
			}
		})
	}
}

func TestTruncatedHeaderThenCloseIsDropped(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.1:1", ts.addr)[:20])
	if err := c.conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.closed()
	ts.log.mustLog(t, "proxyproto: connection dropped", "malformed PROXY header")
}

func TestSlowHeaderTimesOut(t *testing.T) {
	t.Parallel()
	cfg := trustLoopback(Required)
	cfg.HeaderTimeout = conf.Duration(100 * time.Millisecond)
	for _, tc := range []struct {
		name   string
		prefix func(dst string) []byte
		logs   string
	}{
		{"silent", func(string) []byte { return nil }, "PROXY header timed out"},
		{"half-v2", func(dst string) []byte { return v2(t, "192.0.2.1:1", dst)[:14] }, "PROXY header timed out"},
		// go-proxyproto wants a v1 line in one read (its slow-loris
		// guard), so half a line is refused at once.
		{"half-v1", func(string) []byte { return []byte("PROXY TCP4 192.0") }, "malformed PROXY header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, "127.0.0.1", cfg, nil)
			c := dial(t, "127.0.0.1", ts.addr, tc.prefix(ts.addr))
			c.closed() // within the header timeout, not the test's
			ts.log.mustLog(t, "connection dropped", tc.logs)
		})
	}
}

func TestOptionalWithoutHeader(t *testing.T) {
	t.Parallel()
	cfg := trustLoopback(Optional)
	cfg.HeaderTimeout = conf.Duration(50 * time.Millisecond)
	ts := startServer(t, "127.0.0.1", cfg, nil)

	t.Run("silent-client-gets-banner-after-timeout", func(t *testing.T) {
		c := dial(t, "127.0.0.1", ts.addr, nil)
		c.login()
		ts.log.mustLog(t, "no PROXY header from a trusted peer")
	})
	t.Run("client-speaking-first-is-served-at-once", func(t *testing.T) {
		c := dial(t, "127.0.0.1", ts.addr, []byte("NOOP\r\n"))
		c.expect(220)
		c.expect(200) // the NOOP sent before the banner was kept
	})
	t.Run("header-still-used", func(t *testing.T) {
		c := dial(t, "127.0.0.1", ts.addr, v1("192.0.2.50:1234", ts.addr))
		c.login()
		admitted, _, _ := ts.seen.snapshot()
		if admitted[len(admitted)-1] != "192.0.2.50:1234" {
			t.Fatalf("admitted %v", admitted)
		}
	})
}

func TestUntrustedPeers(t *testing.T) {
	t.Parallel()
	// Only 192.0.2.0/24 may send headers, so 127.0.0.1 is untrusted.
	for _, action := range []UntrustedAction{Reject, Ignore} {
		cfg := Config{Mode: Required, Trusted: []string{"192.0.2.0/24"}, Untrusted: action, HeaderTimeout: conf.Duration(testWait)}
		ts := startServer(t, "127.0.0.1", cfg, nil)
		t.Run(action.String()+"/no-header-served-at-once", func(t *testing.T) {
			c := dial(t, "127.0.0.1", ts.addr, nil)
			c.login() // would time out if the banner waited for a header
		})
		for _, h := range []struct {
			name   string
			header []byte
		}{
			{"v1", v1("203.0.113.66:1", ts.addr)},
			{"v2", v2(t, "203.0.113.66:1", ts.addr)},
		} {
			t.Run(action.String()+"/forged-"+h.name, func(t *testing.T) {
				c := dial(t, "127.0.0.1", ts.addr, nil)
				c.expect(220)
				before := ts.log.count("from an untrusted peer")
				if _, err := c.conn.Write(append(h.header, "USER u\r\n"...)); err != nil {
					t.Fatal(err)
				}
				if action == Reject {
					c.closed()
					ts.log.mustLog(t, "PROXY header from an untrusted peer", "connection dropped")
				} else {
					c.expect(331)
					c.cmd("PASS p", 230)
					ts.log.mustLog(t, "ignored a PROXY header from an untrusted peer", "claimed_client=203.0.113.66:1")
				}
				if got := ts.log.count("from an untrusted peer"); got != before+1 {
					t.Fatalf("%d log lines about this forged header, want 1", got-before)
				}
			})
		}
		t.Run(action.String()+"/never-believed", func(t *testing.T) {
			admitted, commands, proxies := ts.seen.snapshot()
			for _, a := range append(admitted, commands...) {
				if bytes.Contains([]byte(a), []byte("203.0.113.66")) {
					t.Fatalf("a forged address was believed: %v %v", admitted, commands)
				}
			}
			for _, p := range proxies {
				if p != nil {
					t.Fatalf("an untrusted connection has ProxyInfo %+v", p)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no-trusted", Config{Mode: Required}},
		{"bad-cidr", Config{Mode: Optional, Trusted: []string{"10.0.0.0/33"}}},
		{"bad-address", Config{Mode: Optional, Trusted: []string{"balancer"}}},
		{"negative-timeout", Config{Mode: Optional, Trusted: []string{"10.0.0.1"}, HeaderTimeout: -1}},
		{"bad-mode", Config{Mode: 7, Trusted: []string{"10.0.0.1"}}},
		{"bad-action", Config{Mode: Optional, Trusted: []string{"10.0.0.1"}, Untrusted: 5}},
	} {
		if err := tc.cfg.Validate(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the zero Config (off): %v", err)
	}
	var m Mode
	if err := m.UnmarshalText([]byte("sometimes")); err == nil {
		t.Error("Mode accepted sometimes")
	}
	if err := m.UnmarshalText([]byte("Required")); err != nil || m != Required {
		t.Errorf("Mode Required: %v %v", m, err)
	}
	var a UntrustedAction
	if err := a.UnmarshalText([]byte("ignore")); err != nil || a != Ignore {
		t.Errorf("action ignore: %v %v", a, err)
	}
	if err := a.UnmarshalText([]byte("trust")); err == nil {
		t.Error("action accepted trust")
	}
	for in, want := range map[string]string{
		"10.1.2.3":            "10.1.2.3/32",
		"10.1.2.0/24":         "10.1.2.0/24",
		"10.1.2.3/24":         "10.1.2.0/24",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"2001:db8::/32":       "2001:db8::/32",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}

// TestParsePrefixShortMapped: an IPv4-mapped prefix shorter than 96 bits
// has no IPv4 equivalent; it is an error, not an invalid prefix that
// matches nothing.
func TestParsePrefixShortMapped(t *testing.T) {
	for _, in := range []string{"::ffff:10.0.0.0/8", "fe80::1%eth0"} {
		if p, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, nil; want an error", in, p)
		}
	}
}
