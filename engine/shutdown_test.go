package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// expectNoService fails if addr still accepts connections and greets them.
func expectNoService(t testing.TB, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return // refused: nothing listens any more
	}
	defer conn.Close()
	if got := expectClosed(t, conn, "connection after shutdown"); len(got) > 0 {
		t.Fatalf("a connection after shutdown got %q", got)
	}
}

// shutdownAsync runs Shutdown in a goroutine and returns its result channel.
func shutdownAsync(srv *Server, ctx context.Context) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- srv.Shutdown(ctx) }()
	return ch
}

// expectSessionsEnded fails unless every connection the driver saw was
// also reported disconnected, n of them.
func expectSessionsEnded(t testing.TB, d *testDriver, n int32) {
	t.Helper()
	if c, dc := d.connected.Load(), d.disconnected.Load(); c != n || dc != n {
		t.Fatalf("ClientConnected %d, ClientDisconnected %d; want %d and %d", c, dc, n, n)
	}
}

func TestShutdownIdleSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	loggedIn := ts.login(t)
	greeted := ts.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	loggedIn.expectReplyThenClose(421)
	greeted.expectReplyThenClose(421)
	if err := ts.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	expectNoService(t, ts.addr)
	expectSessionsEnded(t, ts.driver, 2)
	// Shutdown and Close again are harmless.
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := ts.srv.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
}

func TestShutdownLetsTransferFinish(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	uploader := ts.login(t)
	idle := ts.login(t)
	content := pattern(2 << 20)
	data := uploader.epsv()
	uploader.expect("STOR up.bin", 150)
	sendAll(data, content[:1<<20])

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := shutdownAsync(ts.srv, ctx)
	idle.expectReplyThenClose(421) // shutdown has begun
	expectNoService(t, ts.addr)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while an upload runs", err)
	default:
	}

	sendAll(data, content[1<<20:])
	_ = data.Close()
	uploader.expectRead(226)
	uploader.expectReplyThenClose(421)
	if err := recv(t, done, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectFile(t, ts.driver.fs, "/up.bin", content)
	if err := ts.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	expectSessionsEnded(t, ts.driver, 2)
}

func TestShutdownContextExpiresCutsTransfer(t *testing.T) {
	t.Parallel()
	ffs, ts, c := newFaultServer(t, pattern(1<<20))
	f := &fault{gate: make(chan struct{})}
	ffs.inject("/f.bin", f)
	data := c.epsv()
	c.expect("RETR f.bin", 150)
	recv(t, f.blocked, "the transfer to read the file")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v, want context.DeadlineExceeded", err)
	}
	if got := expectClosed(t, data, "data connection"); len(got) != 0 {
		t.Fatalf("got %d bytes from a stuck disk", len(got))
	}
	expectClosed(t, c.conn, "control connection")
	close(f.gate) // the stuck read returns; the transfer sees it was cut
	h := ffs.onlyHandle(t, "/f.bin")
	recv(t, h.closed, "the handle to be closed")
	h.expectFailure(t, ErrTransferAborted)
	if err := ts.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
}

// startStuckDownload starts a RETR of /f.bin whose disk reads block until
// the returned gate is closed, and waits until the transfer is stuck.
func startStuckDownload(t *testing.T, ffs *faultFs, c *rawClient) (data net.Conn, gate chan struct{}) {
	t.Helper()
	f := &fault{gate: make(chan struct{})}
	ffs.inject("/f.bin", f)
	data = c.epsv()
	c.expect("RETR f.bin", 150)
	recv(t, f.blocked, "the transfer to read the file")
	return data, f.gate
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	ffs, ts, downloader := newFaultServer(t, pattern(1<<20))
	idle := ts.login(t)
	data, gate := startStuckDownload(t, ffs, downloader)

	if err := ts.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Everything ends at once, though the transfer's disk read is stuck.
	expectClosed(t, data, "data connection")
	expectClosed(t, downloader.conn, "downloader's control connection")
	idle.expectReplyThenClose(421)
	if err := ts.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	expectNoService(t, ts.addr)

	close(gate)
	// Shutdown after Close waits for the sessions' goroutines to end.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after Close: %v", err)
	}
	ffs.onlyHandle(t, "/f.bin").expectFailure(t, ErrTransferAborted)
	expectSessionsEnded(t, ts.driver, 2)
}

func TestShutdownAndCloseConcurrently(t *testing.T) {
	t.Parallel()
	ffs, ts, downloader := newFaultServer(t, pattern(1<<20))
	clients := []*rawClient{downloader, ts.login(t), ts.dial(t)}
	data, gate := startStuckDownload(t, ffs, downloader)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			if i%2 == 0 {
				errs <- ts.srv.Shutdown(ctx)
			} else {
				errs <- ts.srv.Close()
			}
		})
	}
	expectClosed(t, data, "data connection")
	for _, c := range clients {
		expectClosed(t, c.conn, "control connection")
	}
	close(gate)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	recv(t, finished, "Shutdown and Close to return")
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown or Close returned %v", err)
		}
	}
	if err := ts.serveResult(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("final Shutdown: %v", err)
	}
	ffs.onlyHandle(t, "/f.bin").expectFailure(t, ErrTransferAborted)
	expectSessionsEnded(t, ts.driver, 3)
}

// newIdleServer returns a Server that is not serving yet, listening on
// 127.0.0.1:0 when it does.
func newIdleServer() (*Server, *testDriver) {
	d := &testDriver{
		fs:       afero.NewMemMapFs(),
		settings: &Settings{ListenAddr: "127.0.0.1:0", ConnectionTimeout: 5},
		users:    map[string]string{"test": "test"},
	}
	return &Server{Driver: d, Logger: slog.New(slog.DiscardHandler)}, d
}

func TestServeAfterShutdown(t *testing.T) {
	t.Parallel()
	srv, _ := newIdleServer()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Listen after Shutdown: %v", err)
	}
	if err := srv.ListenAndServe(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe after Shutdown: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Serve after Shutdown left its listener open")
	}
}

func TestListenAndServeUntilShutdown(t *testing.T) {
	t.Parallel()
	srv, d := newIdleServer()
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	ts := &testServer{srv: srv, driver: d, addr: addr}
	c := ts.login(t)
	content := []byte("served by ListenAndServe")
	c.stor("f", content)
	expectFile(t, d.fs, "/f", content)

	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, served, "ListenAndServe"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe returned %v, want ErrServerClosed", err)
	}
	c.expectReplyThenClose(421)
	expectNoService(t, addr)
	if err := srv.Listen(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Listen after Shutdown: %v", err)
	}
	expectSessionsEnded(t, d, 1)
}
