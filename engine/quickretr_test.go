package engine

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// writeCountingListener counts the writes on the connections it accepts.
type writeCountingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *writeCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writeCountingConn{Conn: c, n: &l.writes}, nil
}

type writeCountingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *writeCountingConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// newOSTestServer is newTestServer over a temp dir of the OS filesystem,
// so that downloads are *os.File and sendfile applies, serving on ln.
func newOSTestServer(t *testing.T, ln net.Listener, timeout int) *testServer {
	t.Helper()
	d := &testDriver{
		fs:       afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()),
		settings: &Settings{ConnectionTimeout: timeout},
		users:    map[string]string{"test": "test"},
	}
	srv := &Server{Driver: d, Logger: slog.New(slog.DiscardHandler)}
	ts := &testServer{srv: srv, driver: d, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case err := <-ts.done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ts
}

// A small download whose data connection is already made when RETR comes
// gets its 150 and 226 in one write on the control connection, and the
// client still reads 150, the exact bytes, then 226.
func TestSmallRETRSendsOneReplyWrite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the held 150 is Linux's (quickretr_linux.go)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counting := &writeCountingListener{Listener: ln}
	ts := newOSTestServer(t, counting, 30)
	content := ptRandom(64<<10 + 7)
	if err := afero.WriteFile(ts.driver.fs, "/small.bin", content, 0o644); err != nil {
		t.Fatal(err)
	}
	c := ts.login(t)
	for i := range 3 { // the second and third reuse the kept listener
		data := c.epsv()
		before := counting.writes.Load()
		c.send("RETR /small.bin")
		c.expectRead(150)
		got, err := io.ReadAll(data)
		if err != nil {
			t.Fatalf("read data: %v", err)
		}
		c.expectRead(226)
		if !bytes.Equal(got, content) {
			t.Fatalf("download %d: got %d bytes, want the %d written", i, len(got), len(content))
		}
		if n := counting.writes.Load() - before; n != 1 {
			t.Fatalf("download %d: %d writes for 150 and 226, want 1", i, n)
		}
	}
}

// A client that connects only after it has read the 150 gets it at once:
// the reply is never held while the server waits for the client.
func TestSmallRETRDoesNotHold150ForLateConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A held 150 would come only when the accept gives up, after 20 s.
	ts := newOSTestServer(t, ln, 20)
	content := ptRandom(1000)
	if err := afero.WriteFile(ts.driver.fs, "/late.bin", content, 0o644); err != nil {
		t.Fatal(err)
	}
	c := ts.login(t)
	text := c.expect("EPSV", 229)
	m := epsvReply.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("EPSV reply %q", text)
	}
	c.send("RETR /late.bin")
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil || len(line) < 3 || line[:3] != "150" {
		t.Fatalf("first reply %q, %v; want 150 within 5 s, before the data connection", line, err)
	}
	data := c.dialData(net.JoinHostPort("127.0.0.1", m[1]))
	got, err := io.ReadAll(data)
	if err != nil {
		t.Fatalf("read data: %v", err)
	}
	c.expectRead(226)
	if !bytes.Equal(got, content) {
		t.Fatalf("got %d bytes, want %d", len(got), len(content))
	}
}

// A download the socket cannot take in one go (the client reads the 150
// before the data, as clients do) writes its 150 and then copies the rest
// the usual way; the bytes arrive whole, larger files too.
func TestRETRAroundTheHeld150Bound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := newOSTestServer(t, ln, 30)
	c := ptClientDial(t, ts)
	for _, size := range []int{1, quickRetrMax - 1, quickRetrMax, quickRetrMax + 1, 3 << 20} {
		content := ptRandom(size)
		if err := afero.WriteFile(ts.driver.fs, "/f.bin", content, 0o644); err != nil {
			t.Fatal(err)
		}
		got := ptClientRetr(t, c, "f.bin", 0)
		if !bytes.Equal(got, content) {
			t.Fatalf("size %d: got %d bytes", size, len(got))
		}
		got = ptClientRetr(t, c, "f.bin", uint64(size/2))
		if !bytes.Equal(got, content[size/2:]) {
			t.Fatalf("size %d from %d: got %d bytes", size, size/2, len(got))
		}
	}
}
