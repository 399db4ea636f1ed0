package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// floodUnread makes the server's command loop block in a reply write:
// the client pipelines FEAT and never reads, until its own writes stall,
// which happens only once the server stopped reading commands, that is,
// while it waits for the client to take a reply.
func floodUnread(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	batch := []byte(strings.Repeat("FEAT\r\n", 1000))
	for i := 0; ; i++ {
		if i == 100000 {
			t.Fatal("the server read every command: its writes never blocked")
		}
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(batch); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return conn
			}
			t.Fatalf("flooding: %v", err)
		}
	}
}

// TestShutdownNotHeldByClientsThatDoNotRead: clients that stop reading
// their replies (any client can: FEAT needs no login) hold the reply
// lock of their sessions for up to the reply write timeout. Shutdown
// must still return once its context ends, whatever their number:
// ending each idle session one after the other, waiting for each one's
// lock and farewell write, would keep the server up for minutes past
// its shutdown timeout.
func TestShutdownNotHeldByClientsThatDoNotRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for range 3 {
		floodUnread(t, ts.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// An upper bound only: three stalled sessions each held the
	// sequential stop for replyWriteTimeout (30 s) and more.
	if err := recv(t, shutdownAsync(ts.srv, ctx), "Shutdown past its context"); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := recv(t, ts.done, "Serve to return"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	ts.done <- ErrServerClosed // for the cleanup
}
