package engine

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holdCounter is a passive hook that counts the ports held, refuses past
// max, and fails the test when a hold is given back twice.
type holdCounter struct {
	t        testing.TB
	max      int
	refusal  error
	mu       sync.Mutex
	held     int
	calls    int
	ports    int           // PassivePort.Ports of the last call
	released chan struct{} // a token per release, for waiting
}

func newHoldCounter(t testing.TB, max int) *holdCounter {
	return &holdCounter{t: t, max: max, refusal: Refuse(425, "Too many passive ports held."),
		released: make(chan struct{}, 64)}
}

func (h *holdCounter) hook(_ context.Context, p *PassivePort) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	h.ports = p.Ports
	if p.Session == nil || (p.Verb != "PASV" && p.Verb != "EPSV") {
		h.t.Errorf("passive hook called with %+v", p)
	}
	if h.held >= h.max {
		return nil, h.refusal
	}
	h.held++
	var once atomic.Bool
	return func() {
		if once.Swap(true) {
			h.t.Error("a passive hold was released twice")
			return
		}
		h.mu.Lock()
		h.held--
		h.mu.Unlock()
		select {
		case h.released <- struct{}{}:
		default:
		}
	}, nil
}

func (h *holdCounter) state() (held, calls int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held, h.calls
}

// waitHeld waits until n ports are held, woken by each release.
func (h *holdCounter) waitHeld(n int, what string) {
	h.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if held, _ := h.state(); held == n {
			return
		}
		select {
		case <-h.released:
		case <-deadline:
			held, _ := h.state()
			h.t.Fatalf("%s: %d passive ports held, want %d", what, held, n)
		}
	}
}

func (h *holdCounter) expectHeld(n int, what string) {
	h.t.Helper()
	if held, _ := h.state(); held != n {
		h.t.Fatalf("%s: %d passive ports held, want %d", what, held, n)
	}
}

func withPassiveHooks(hooks ...PassiveHook) serverOption {
	return onServer(func(srv *Server) { srv.PassiveHooks = hooks })
}

// TestPassiveHookBoundsHeldPorts: a hook's bound applies across sessions,
// a repeated EPSV in one session replaces its port instead of taking a
// second, the listener kept after a transfer stays held (and its reuse
// runs no hook), and every way of ending a session's hold frees room.
func TestPassiveHookBoundsHeldPorts(t *testing.T) {
	t.Parallel()
	h := newHoldCounter(t, 2)
	ts := newTestServer(t, withPassiveHooks(h.hook))
	writeFile(t, ts.driver.fs, "/f", []byte("data"))

	c1, c2, c3 := ts.login(t), ts.login(t), ts.login(t)
	c1.epsvPort()
	p1 := c1.epsvPort() // replaces the first
	h.expectHeld(1, "two EPSV in one session")
	c2.expect("PASV", 227)
	h.expectHeld(2, "a second session")
	if text := c3.expect("EPSV", 425); !strings.Contains(text, "Too many passive ports held.") {
		t.Fatalf("refused EPSV: %q", text)
	}
	if text := c3.expect("PASV", 425); !strings.Contains(text, "Too many passive ports held.") {
		t.Fatalf("refused PASV: %q", text)
	}
	c3.expect("RETR f", 425) // nothing prepared

	if got := c1.retrOn(p1, "f"); string(got) != "data" {
		t.Fatalf("RETR: %q", got)
	}
	if spareReuse {
		// The listener is kept for c1's next EPSV: still held.
		h.expectHeld(2, "a kept listener")
		_, before := h.state()
		if p := c1.epsvPort(); p != p1 {
			t.Fatalf("EPSV after a transfer advertised %d, want the kept %d", p, p1)
		}
		if _, after := h.state(); after != before {
			t.Fatal("reusing the kept listener ran the passive hook")
		}
		c1.expect("ABOR", 225)
	}
	h.waitHeld(1, "c1's port given back")
	c3.expect("EPSV", 229)
	c2.expect("REIN", 220)
	h.waitHeld(1, "REIN")
	c3.expect("QUIT", 221)
	h.waitHeld(0, "QUIT")
	if _, calls := h.state(); calls != 6 { // c1 2, c2 1, c3 3 (2 refused)
		t.Fatalf("the hook ran %d times", calls)
	}
}

// TestPassiveHoldReleasedOnEveryPath: each way a prepared passive port
// goes away gives its hold back, exactly once (holdCounter fails the test
// on a second release).
func TestPassiveHoldReleasedOnEveryPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		portRange bool // a PortRange: no listener is kept after a transfer
		end       func(t *testing.T, c *rawClient, port int)
	}{
		{"transfer done", true, func(t *testing.T, c *rawClient, port int) {
			if got := c.retrOn(port, "f"); string(got) != "data" {
				t.Fatalf("RETR: %q", got)
			}
		}},
		{"kept listener at QUIT", false, func(t *testing.T, c *rawClient, port int) {
			c.retrOn(port, "f")
			c.expect("QUIT", 221)
		}},
		{"kept listener at REIN", false, func(t *testing.T, c *rawClient, port int) {
			c.retrOn(port, "f")
			c.expect("REIN", 220)
		}},
		{"PORT", false, func(t *testing.T, c *rawClient, _ int) {
			_, arg := ptActive(t)
			c.expect("PORT "+arg, 200)
		}},
		{"ABOR", false, func(t *testing.T, c *rawClient, _ int) { c.expect("ABOR", 225) }},
		{"REIN", false, func(t *testing.T, c *rawClient, _ int) { c.expect("REIN", 220) }},
		{"failed transfer command", false, func(t *testing.T, c *rawClient, _ int) { c.expect("RETR missing", 550) }},
		{"session end", false, func(t *testing.T, c *rawClient, _ int) { _ = c.conn.Close() }},
		{"transfer aborted while waiting for the data connection", false, func(t *testing.T, c *rawClient, _ int) {
			c.expect("RETR f", 150)
			c.expect("ABOR", 426)
			c.expectRead(226)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHoldCounter(t, 1)
			opts := []serverOption{withPassiveHooks(h.hook)}
			if tc.portRange {
				port := freePort(t)
				opts = append(opts, withSettings(func(s *Settings) {
					s.PassiveTransferPortRange = &PortRange{Start: port, End: port}
				}))
			}
			ts := newTestServer(t, opts...)
			writeFile(t, ts.driver.fs, "/f", []byte("data"))
			c := ts.login(t)
			port := c.epsvPort()
			h.expectHeld(1, "after EPSV")
			tc.end(t, c, port)
			h.waitHeld(0, tc.name)
		})
	}
}

func TestPassiveHoldReleasedWhenThePortExpires(t *testing.T) {
	t.Parallel()
	h := newHoldCounter(t, 1)
	ts := newTestServer(t, withPassiveHooks(h.hook), withConnTimeout(1))
	c := ts.login(t)
	c.expect("EPSV", 229)
	h.waitHeld(0, "expiry")
	c.expect("EPSV", 229) // room again
}

func TestPassiveHookSeesThePortCount(t *testing.T) {
	t.Parallel()
	h := newHoldCounter(t, 1)
	start, held := heldPortRange(t, 3)
	for _, ln := range held {
		_ = ln.Close()
	}
	ts := newTestServer(t, withPassiveHooks(h.hook), withSettings(func(s *Settings) {
		s.PassiveTransferPortRange = &PortRange{Start: start, End: start + 2}
	}))
	ts.login(t).expect("EPSV", 229)
	if h.ports != 3 {
		t.Fatalf("Ports = %d with a range of 3", h.ports)
	}
	h2 := newHoldCounter(t, 1)
	ts2 := newTestServer(t, withPassiveHooks(h2.hook))
	ts2.login(t).expect("EPSV", 229)
	if h2.ports < 1000 {
		t.Fatalf("Ports = %d for the ephemeral range", h2.ports)
	}
}

// TestPassiveHookRefusals: a 421 closes the session; a later hook's
// refusal gives the earlier hooks' holds back; a port that cannot be
// bound gives the holds back too.
func TestPassiveHookRefusals(t *testing.T) {
	t.Parallel()
	t.Run("421", func(t *testing.T) {
		t.Parallel()
		h := newHoldCounter(t, 0)
		h.refusal = Refuse(421, "Passive ports exhausted.")
		c := newTestServer(t, withPassiveHooks(h.hook)).login(t)
		c.send("EPSV")
		c.expectReplyThenClose(421)
	})
	t.Run("later hook refuses", func(t *testing.T) {
		t.Parallel()
		first, second := newHoldCounter(t, 5), newHoldCounter(t, 0)
		c := newTestServer(t, withPassiveHooks(first.hook, second.hook)).login(t)
		c.expect("EPSV", 425)
		first.waitHeld(0, "the first hook after the second refused")
		if _, calls := first.state(); calls != 1 {
			t.Fatalf("first hook ran %d times", calls)
		}
	})
	t.Run("port cannot be bound", func(t *testing.T) {
		t.Parallel()
		h := newHoldCounter(t, 5)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		c := newTestServer(t, withPassiveHooks(h.hook), withSettings(func(s *Settings) {
			s.PassiveTransferPortRange = &PortRange{Start: port, End: port}
		})).login(t)
		if text := c.expect("EPSV", 425); !strings.Contains(text, "Cannot open") {
			t.Fatalf("EPSV on a busy port: %q", text)
		}
		h.waitHeld(0, "a port that could not be bound")
	})
}
