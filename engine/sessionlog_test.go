package engine

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSessionLoggerAttrs checks that a session's log lines carry its id
// and remote address first, as Logger.With placed them, also through With
// and WithGroup, and that levels the server's handler drops stay dropped.
func TestSessionLoggerAttrs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	s := &session{id: 7, rawConn: c1}
	log := newSessionLogger(base, s)

	log.Info("ftp: transfer complete", "verb", "RETR", "bytes", 3)
	log.With("user", "ann").Info("ftp: login")
	log.WithGroup("g").Info("grouped", "k", "v")
	log.Debug("hidden")

	want := []string{
		`level=INFO msg="ftp: transfer complete" session=7 remote=pipe verb=RETR bytes=3`,
		`level=INFO msg="ftp: login" session=7 remote=pipe user=ann`,
		`level=INFO msg=grouped session=7 remote=pipe g.k=v`,
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// addrConn is a net.Conn with a chosen remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// countingHandler takes every record and keeps the last one's attributes.
type countingHandler struct{ last []slog.Attr }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.last = h.last[:0]
	r.Attrs(func(a slog.Attr) bool { h.last = append(h.last, a); return true })
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// A session's "remote" attribute reads as net.TCPAddr.String writes it,
// for every kind of TCP address, and a transfer's log line costs few
// allocations: it is written once per file.
func TestTransferLogLine(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	for _, a := range []*net.TCPAddr{
		{IP: net.IPv4(192, 0, 2, 1), Port: 2121},
		{IP: net.ParseIP("2001:db8::1"), Port: 21},
		{IP: net.ParseIP("fe80::1"), Port: 21, Zone: "eth0"},
		{IP: net.ParseIP("::ffff:198.51.100.7"), Port: 40000},
		{IP: net.IPv4(203, 0, 113, 9).To4(), Port: 1},
	} {
		h := &countingHandler{}
		s := &session{id: 9, rawConn: addrConn{Conn: c1, remote: a}, ctx: context.Background()}
		s.log = newSessionLogger(slog.New(h), s)
		x := &transfer{verb: "RETR", path: "/f", started: time.Now()}
		s.logTransfer(x, 65536, nil)
		if len(h.last) != 6 || h.last[1].Key != "remote" || h.last[1].Value.String() != a.String() {
			t.Fatalf("%s: attributes %v, want session, remote=%s, verb, path, bytes, duration", a, h.last, a)
		}
		allocs := testing.AllocsPerRun(100, func() { s.logTransfer(x, 65536, nil) })
		// The remote address's string and the record's overflow
		// beyond slog's five inline attributes; before 2026-12-06 it
		// was 8 or 9 (key-value pairs boxed, TCPAddr.String); now 2.
		if allocs > 3 {
			t.Errorf("%s: a transfer's log line allocates %v times, want at most 3", a, allocs)
		}
	}
}
