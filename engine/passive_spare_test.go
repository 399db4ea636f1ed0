package engine

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// retrOn downloads name over a passive connection to port, which EPSV
// must have just advertised.
func (c *rawClient) retrOn(port int, name string) []byte {
	c.t.Helper()
	data := c.dialData(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	c.expect("RETR "+name, 150)
	b, err := io.ReadAll(data)
	if err != nil {
		c.t.Fatalf("RETR %s: %v", name, err)
	}
	c.expectRead(226)
	return b
}

// waitPortClosed dials port until the connection is refused, failing the
// test when it is still open after 10 s.
func waitPortClosed(t *testing.T, port int, what string) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		_ = conn.Close()
		select {
		case <-deadline:
			t.Fatalf("%s: port %d still open after 10 s", what, port)
		case <-tick.C:
		}
	}
}

func skipWithoutSpareReuse(t *testing.T) {
	if !spareReuse {
		t.Skip("passive listeners are not kept on this OS")
	}
}

func TestPassiveListenerIsKeptForTheNextEPSV(t *testing.T) {
	t.Parallel()
	skipWithoutSpareReuse(t)
	ts := newTestServer(t)
	c := ts.login(t)
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("one"), 0o644)
	first := c.epsvPort()
	if got := c.retrOn(first, "f"); string(got) != "one" {
		t.Fatalf("first RETR got %q", got)
	}
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("two"), 0o644)
	second := c.epsvPort()
	if second != first {
		t.Fatalf("second EPSV advertised port %d, want the kept %d", second, first)
	}
	if got := c.retrOn(second, "f"); string(got) != "two" {
		t.Fatalf("second RETR got %q", got)
	}
	// PASV may take the kept listener too.
	text := c.expect("PASV", 227)
	m := pasvReply.FindStringSubmatch(text)
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	if p1<<8|p2 != first {
		t.Fatalf("PASV advertised port %d, want the kept %d", p1<<8|p2, first)
	}
}

func TestKeptPassivePortNeverServesAConnectionMadeBeforeItsReply(t *testing.T) {
	t.Parallel()
	skipWithoutSpareReuse(t)
	ts := newTestServer(t)
	c := ts.login(t)
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("secret"), 0o644)
	first := c.epsvPort()
	if got := c.retrOn(first, "f"); string(got) != "secret" {
		t.Fatalf("first RETR got %q", got)
	}
	// A connection to the kept port before the next EPSV: from a stale
	// client or a stranger who guessed the port. It must not become the
	// next transfer's data connection.
	stale := c.dialData(net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	second := c.epsvPort()
	if second == first {
		t.Fatalf("EPSV advertised the kept port %d although a connection waited on it", first)
	}
	if got := c.retrOn(second, "f"); string(got) != "secret" {
		t.Fatalf("RETR on the new port got %q", got)
	}
	_ = stale.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(stale)
	if len(b) != 0 {
		t.Fatalf("the early connection received %q", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the early connection was left open")
	}
}

func TestKeptPassivePortIsClosedAfterTheConnectionTimeout(t *testing.T) {
	t.Parallel()
	skipWithoutSpareReuse(t)
	ts := newTestServer(t, withConnTimeout(1))
	c := ts.login(t)
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("x"), 0o644)
	port := c.epsvPort()
	if got := c.retrOn(port, "f"); string(got) != "x" {
		t.Fatalf("RETR got %q", got)
	}
	waitPortClosed(t, port, "kept listener after the connection timeout")
	if got := c.retr("f"); string(got) != "x" {
		t.Fatalf("RETR after the kept port expired got %q", got)
	}
}

func TestKeptPassivePortIsClosedWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	skipWithoutSpareReuse(t)
	ts := newTestServer(t, withConnTimeout(600))
	c := ts.login(t)
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("x"), 0o644)
	port := c.epsvPort()
	if got := c.retrOn(port, "f"); string(got) != "x" {
		t.Fatalf("RETR got %q", got)
	}
	c.expect("QUIT", 221)
	waitPortClosed(t, port, "kept listener after QUIT")
}

// With a PortRange the ports are shared by all sessions: a session's
// finished transfer gives its port back at once, for another session.
func TestPortRangePortIsFreedAfterTheTransfer(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	ts := newTestServer(t, withConnTimeout(600), withSettings(func(st *Settings) {
		st.PassiveTransferPortRange = &PortRange{Start: port, End: port}
	}))
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("x"), 0o644)
	a := ts.login(t)
	if got := a.epsvPort(); got != port {
		t.Fatalf("EPSV port %d, want %d from the range", got, port)
	}
	if got := a.retrOn(port, "f"); string(got) != "x" {
		t.Fatalf("RETR got %q", got)
	}
	b := ts.login(t)
	if got := b.epsvPort(); got != port {
		t.Fatalf("second session's EPSV port %d, want %d", got, port)
	}
	if got := b.retrOn(port, "f"); string(got) != "x" {
		t.Fatalf("second session's RETR got %q", got)
	}
}
