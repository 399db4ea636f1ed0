package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"testing/iotest"
	"time"

	pp "github.com/pires/go-proxyproto"
)

// bytesConn is a net.Conn that reads a fixed input, then io.EOF.
type bytesConn struct {
	r *bytes.Reader
}

func (c *bytesConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *bytesConn) Write(b []byte) (int, error) { return len(b), nil }
func (c *bytesConn) Close() error                { return nil }
func (c *bytesConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }
func (c *bytesConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
}
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// signaturePrefix reports whether b could be the start of a header.
func signaturePrefix(b []byte) bool {
	n := min(len(b), 5)
	if bytes.Equal(b[:n], pp.SIGV1[:n]) {
		return true
	}
	n = min(len(b), 12)
	return bytes.Equal(b[:n], pp.SIGV2[:n])
}

// FuzzHeader feeds arbitrary bytes to a trusted peer's handshake (both
// modes) and to an untrusted peer's first read (both actions): no panic,
// a refusal is an error, an accepted header's source is the address the
// connection reports, and bytes that cannot start a header reach the
// reader unchanged.
func FuzzHeader(f *testing.F) {
	ipv4 := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1000}
	dst := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21}
	v2h, _ := pp.HeaderProxyFromAddrs(2, ipv4, dst).Format()
	f.Add(v2h)
	f.Add(append(append([]byte(nil), v2h...), "USER u\r\n"...))
	f.Add([]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1000 21\r\nUSER u\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 ::1 1000 21\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2Local())
	f.Add(v2Raw(0x21, 0x11, 17, append(append([]byte(nil), ipv4Body...), 0x02, 0x00, 0x02, 'h', 'i')))
	f.Add(v2Raw(0x21, 0x11, 15, append(append([]byte(nil), ipv4Body...), 0x20, 0xff, 0xff)))
	f.Add(v2Raw(0x21, 0x11, 0xffff, ipv4Body))
	f.Add([]byte("USER u\r\n"))
	f.Add([]byte("PROXY"))
	f.Add([]byte{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	trusted := []string{"127.0.0.0/8"}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []Mode{Optional, Required} {
			w, err := New(Config{Mode: mode, Trusted: trusted}, log)
			if err != nil {
				t.Fatal(err)
			}
			c := w.newConn(&bytesConn{r: bytes.NewReader(data)}, false)
			info, err := c.ProxyHandshake()
			if err != nil {
				if info != nil {
					t.Fatalf("%s: refused with ProxyInfo %+v", mode, info)
				}
				if _, rerr := c.Read(make([]byte, 1)); rerr == nil {
					t.Fatalf("%s: refused connection still reads", mode)
				}
				continue
			}
			if info != nil && info.Source != nil && c.RemoteAddr().String() != info.Source.String() {
				t.Fatalf("%s: RemoteAddr %v, header source %v", mode, c.RemoteAddr(), info.Source)
			}
			if info == nil && mode == Required {
				t.Fatalf("required mode accepted a connection without a header")
			}
			rest, _ := io.ReadAll(c)
			if !signaturePrefix(data) && (info != nil || !bytes.Equal(rest, data)) {
				t.Fatalf("%s: %q read back as %q", mode, data, rest)
			}
		}
		for _, action := range []UntrustedAction{Reject, Ignore} {
			w, err := New(Config{Mode: Required, Trusted: []string{"10.0.0.0/8"}, Untrusted: action}, log)
			if err != nil {
				t.Fatal(err)
			}
			// A data connection passes every byte on.
			dc := w.newConn(&bytesConn{r: bytes.NewReader(data)}, true)
			if rest, _ := io.ReadAll(dc); !bytes.Equal(rest, data) {
				t.Fatalf("untrusted data connection: %q read back as %q", data, rest)
			}
			c := w.newConn(&bytesConn{r: bytes.NewReader(data)}, false)
			if info, err := c.ProxyHandshake(); info != nil || err != nil {
				t.Fatalf("untrusted handshake: %+v %v", info, err)
			}
			rest, _ := io.ReadAll(c)
			if c.RemoteAddr().String() != "127.0.0.2:40000" {
				t.Fatalf("untrusted: RemoteAddr %v was changed", c.RemoteAddr())
			}
			if !signaturePrefix(data) && !bytes.Equal(rest, data) {
				t.Fatalf("untrusted %s: %q read back as %q", action, data, rest)
			}
		}
	})
}

// errPastPeek is what the reader behind the peeked bytes returns: a read
// that would have waited on a socket.
var errPastPeek = errors.New("read past the peeked bytes")

// FuzzHeaderWhole checks headerWhole against go-proxyproto's Read: when it
// says the first bytes of a connection are enough, Read must finish
// without asking for more (the engine then reads the header in its accept
// loop, where a wait would hold up the transfer).
func FuzzHeaderWhole(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1234 21\r\n"))
	f.Add([]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1234 21\r\ndata"))
	f.Add([]byte("PROXY TCP4 192.0.2.1"))
	f.Add([]byte("PROX"))
	f.Add([]byte("RETR x\r\n"))
	f.Add(append(append([]byte{}, pp.SIGV2...), 0x21, 0x11, 0, 12, 192, 0, 2, 1, 192, 0, 2, 2, 4, 210, 0, 21))
	f.Add(append(append([]byte{}, pp.SIGV2...), 0x21, 0x11, 0, 12, 192, 0, 2))
	f.Add(pp.SIGV2[:7])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > readBufferSize {
			b = b[:readBufferSize]
		}
		if !headerWhole(b) {
			return
		}
		r := io.MultiReader(bytes.NewReader(b), iotest.ErrReader(errPastPeek))
		if _, err := pp.Read(bufio.NewReaderSize(r, readBufferSize)); errors.Is(err, errPastPeek) {
			t.Fatalf("headerWhole(%q) = true, but Read needed more bytes", b)
		}
	})
}

// TestHeaderWhole: whole headers and bytes that start no header are
// enough; nothing, a signature's start and a header cut short are not.
func TestHeaderWhole(t *testing.T) {
	v2 := append(append([]byte{}, pp.SIGV2...), 0x21, 0x11, 0, 12, 192, 0, 2, 1, 192, 0, 2, 2, 4, 210, 0, 21)
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{nil, false},
		{[]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1234 21\r\n"), true},
		{[]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1234 21\r"), true}, // a line cut short fails at once
		{[]byte("PRO"), false},
		{[]byte("P0"), false},      // Read waits for 5 bytes whatever they are
		{[]byte("PRIVMSG"), false}, // and for 12 when they are not "PROXY"
		{[]byte("PRIVMSG #a :x"), true},
		{[]byte("x"), true},
		{v2, true},
		{append(v2, "data"...), true},
		{v2[:len(v2)-1], false},
		{v2[:13], false},
		{pp.SIGV2[:5], false},
		{[]byte("\r\nxy"), false},
		{[]byte("\r\nxyzabcdefgh"), true},
	} {
		if got := headerWhole(tc.b); got != tc.want {
			t.Errorf("headerWhole(%q) = %v, want %v", tc.b, got, tc.want)
		}
	}
}
