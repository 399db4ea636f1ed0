//go:build unix

package proxyproto

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	pp "github.com/pires/go-proxyproto"
	"github.com/spf13/afero"
)

// deadlineConn is an accepted socket that records the read deadlines set
// on it. It embeds *net.TCPConn, so SyscallConn (and with it the
// non-blocking first read) works as on the socket itself.
type deadlineConn struct {
	*net.TCPConn
	armed chan time.Time // each non-zero deadline, as it is set

	mu  sync.Mutex
	set []time.Time
}

func newDeadlineConn(c *net.TCPConn) *deadlineConn {
	return &deadlineConn{TCPConn: c, armed: make(chan time.Time, 4)}
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.set = append(c.set, t)
	c.mu.Unlock()
	if !t.IsZero() {
		select {
		case c.armed <- t:
		default:
		}
	}
	return c.TCPConn.SetReadDeadline(t)
}

func (c *deadlineConn) deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.set...)
}

// tcpPair returns both ends of a loopback TCP connection: the client's
// (127.0.0.1, a trusted balancer under trustLoopback) and the server's.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = ln.SetDeadline(time.Now().Add(testWait))
	cc, err := net.DialTimeout("tcp", ln.Addr().String(), testWait)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.AcceptTCP()
	if err != nil {
		_ = cc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close(); _ = sc.Close() })
	_ = cc.SetWriteDeadline(time.Now().Add(testWait))
	return cc.(*net.TCPConn), sc
}

// waitBuffered waits (at most testWait) until at least n bytes are in
// conn's receive buffer, without consuming them (MSG_PEEK).
func waitBuffered(t *testing.T, conn *net.TCPConn, n int) {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(testWait))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, n)
	var peekErr error
	err = raw.Read(func(fd uintptr) bool {
		m, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
		switch {
		case err == syscall.EINTR || err == syscall.EAGAIN:
			return false // wait for the poller
		case err != nil:
			peekErr = err
			return true
		}
		return m >= n // fewer: wait for the rest
	})
	if err != nil || peekErr != nil {
		t.Fatalf("waiting for %d buffered bytes: %v, %v", n, err, peekErr)
	}
}

// TestWholeHeaderArmsNoDeadline: a header that is in the socket's buffer
// when the handshake starts (a balancer sends it right after connecting)
// is read without a read deadline set and cleared, which cost a data
// connection's handshake two runtime timer changes; the bytes after it
// are kept.
func TestWholeHeaderArmsNoDeadline(t *testing.T) {
	t.Parallel()
	w, err := New(trustLoopback(Required), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header []byte
	}{
		{"v1", v1("192.0.2.10:40000", "127.0.0.1:21")},
		{"v2", v2(t, "192.0.2.10:40000", "127.0.0.1:21")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			if _, err := client.Write(append(append([]byte(nil), tc.header...), "STOR /f\r\n"...)); err != nil {
				t.Fatal(err)
			}
			waitBuffered(t, server, len(tc.header)+9)
			dc := newDeadlineConn(server)
			c := w.newConn(dc, true)
			info, err := c.ProxyHandshake()
			if err != nil || info == nil || info.Source.String() != "192.0.2.10:40000" {
				t.Fatalf("handshake: %+v, %v", info, err)
			}
			if got := dc.deadlines(); len(got) != 0 {
				t.Errorf("read deadlines set %v; a header already buffered needs none", got)
			}
			rest := make([]byte, 9)
			if _, err := io.ReadFull(c, rest); err != nil || string(rest) != "STOR /f\r\n" {
				t.Fatalf("bytes after the header: %q, %v", rest, err)
			}
		})
	}
}

// TestSplitHeaderArmsDeadline: when only part of a header is there, the
// handshake arms the header deadline, counted from the handshake's start,
// before it waits for the rest; it clears it once the header is whole,
// and a header that never completes times out at that deadline.
func TestSplitHeaderArmsDeadline(t *testing.T) {
	t.Parallel()
	header := v2(t, "192.0.2.10:40000", "127.0.0.1:21")
	t.Run("completed", func(t *testing.T) {
		t.Parallel()
		w, err := New(trustLoopback(Required), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		client, server := tcpPair(t)
		if _, err := client.Write(header[:14]); err != nil {
			t.Fatal(err)
		}
		waitBuffered(t, server, 14)
		dc := newDeadlineConn(server)
		c := w.newConn(dc, true)
		type result struct {
			info string
			err  error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			info, err := c.ProxyHandshake()
			r := result{err: err}
			if info != nil && info.Source != nil {
				r.info = info.Source.String()
			}
			done <- r
		}()
		var deadline time.Time
		select {
		case deadline = <-dc.armed:
		case r := <-done:
			t.Fatalf("handshake ended on half a header: %+v", r)
		case <-timeAfter():
			t.Fatal("no read deadline armed while half a header waited")
		}
		if armedBy := time.Now(); deadline.Before(start.Add(w.timeout)) || deadline.After(armedBy.Add(w.timeout)) {
			t.Errorf("deadline %v: want the handshake's start (%v) plus the header timeout %v", deadline, start, w.timeout)
		}
		if _, err := client.Write(append(header[14:], "STOR /f\r\n"...)); err != nil {
			t.Fatal(err)
		}
		var r result
		select {
		case r = <-done:
		case <-timeAfter():
			t.Fatal("handshake did not end once the header was whole")
		}
		if r.err != nil || r.info != "192.0.2.10:40000" {
			t.Fatalf("handshake: %+v", r)
		}
		if got := dc.deadlines(); len(got) != 2 || !got[1].IsZero() {
			t.Errorf("read deadlines set %v; want the header's, then cleared", got)
		}
		rest := make([]byte, 9)
		if _, err := io.ReadFull(c, rest); err != nil || string(rest) != "STOR /f\r\n" {
			t.Fatalf("bytes after the header: %q, %v", rest, err)
		}
	})
	t.Run("never-completed", func(t *testing.T) {
		t.Parallel()
		cfg := trustLoopback(Required)
		cfg.HeaderTimeout = conf.Duration(150 * time.Millisecond)
		w, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		client, server := tcpPair(t)
		if _, err := client.Write(header[:14]); err != nil {
			t.Fatal(err)
		}
		waitBuffered(t, server, 14)
		c := w.newConn(server, true)
		start := time.Now()
		info, err := c.ProxyHandshake()
		if elapsed := time.Since(start); !errors.Is(err, ErrHeaderTimeout) || info != nil || elapsed < w.timeout || elapsed > testWait {
			t.Fatalf("half a header: %+v, %v after %v; want %v after the %v header timeout", info, err, elapsed, ErrHeaderTimeout, w.timeout)
		}
	})
}

// TestDataHeaderSplitAcrossWrites: a balancer that sends a data
// connection's header in two writes, with a pause between them, is
// served as one that sends it at once. The pause stands for a slow
// balancer; the test passes whether or not the server read the first part
// alone.
func TestDataHeaderSplitAcrossWrites(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.10:40000", ts.addr))
	c.login()
	_, port := passivePort(t, c.cmd("EPSV", 229))
	header := v2(t, "192.0.2.10:40001", "127.0.0.1:1")
	data := dial(t, "127.0.0.1", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), header[:14])
	<-time.After(50 * time.Millisecond)
	if _, err := data.conn.Write(header[14:]); err != nil {
		t.Fatal(err)
	}
	c.cmd("STOR /split", 150)
	if _, err := io.WriteString(data.conn, "split header"); err != nil {
		t.Fatal(err)
	}
	_ = data.conn.Close()
	c.expect(226)
	if got, err := afero.ReadFile(ts.fs, "/split"); err != nil || string(got) != "split header" {
		t.Fatalf("stored %q, %v", got, err)
	}
}

// BenchmarkHandshakeSocket measures a data connection's handshake on a
// real loopback socket, where reading the header costs system calls and,
// when it waits, a read deadline: the balancer's side writes a header and
// one byte of data, and a fresh Conn over the same socket reads both, per
// iteration. The header is usually in the socket's buffer by the time the
// handshake reads it, as on a balancer's data connection.
func BenchmarkHandshakeSocket(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	w, err := New(Config{Mode: Required, Trusted: []string{"127.0.0.0/8"}}, log)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptTCP()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	src := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1000}
	dst := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21}
	v2h, _ := pp.HeaderProxyFromAddrs(2, src, dst).Format()
	input := append(v2h, 'x')
	var one [1]byte
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := client.Write(input); err != nil {
			b.Fatal(err)
		}
		c := w.newConn(server, true)
		if _, err := c.ProxyHandshake(); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, one[:]); err != nil {
			b.Fatal(err)
		}
	}
	// The process's CPU time per handshake as well as the wall time: on a
	// machine shared with other work it is the steadier of the two.
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
