package ratelimit

import (
	"strings"
	"testing"
)

// TestConnectionFloodRefusedOthersServed: an address opening connections
// faster than its rate gets 421 with a reason and a closed connection;
// another address is served meanwhile.
func TestConnectionFloodRefusedOthersServed(t *testing.T) {
	t.Parallel()
	clock := newFakeClock() // frozen: the bucket does not refill during the test
	ts := newTestServer(t, Config{ConnRate: 1, ConnBurst: 3}, func(l *Limiter) { l.Now = clock.Now })
	for i := range 3 {
		if _, code, text := ts.dialRaw(t, "127.0.0.1"); code != 220 {
			t.Fatalf("connection %d within the burst: %d %s", i, code, text)
		}
	}
	refused := 0
	for range 20 {
		c, code, text := ts.dialRaw(t, "127.0.0.1")
		if code != 421 || !strings.Contains(text, "new connections") {
			t.Fatalf("connection over the rate: got %d %s, want 421", code, text)
		}
		c.ExpectClosed()
		refused++
	}
	other, code, text := ts.dialRaw(t, "127.0.0.2")
	if code != 220 {
		t.Fatalf("other address during the flood: %d %s", code, text)
	}
	other.Expect("USER alice", 331)
	other.Expect("PASS secret", 230)
	if got := ts.l.Stats().RefusedConnRate; got != uint64(refused) {
		t.Fatalf("Stats counts %d rate refusals, want %d", got, refused)
	}
	// The bucket refills with time.
	clock.Add(1100 * 1000 * 1000)
	if _, code, _ := ts.dialRaw(t, "127.0.0.1"); code != 220 {
		t.Fatalf("after a second the address was refused again: %d", code)
	}
}

// TestConcurrentConnectionsPerIPAndTotal: the third connection of an
// address limited to two is refused, and admitted once one of the two has
// gone; the server-wide bound refuses any address.
func TestConcurrentConnectionsPerIPAndTotal(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{MaxConnsPerIP: 2, MaxConns: 3}, nil)
	first, _, _ := ts.dialRaw(t, "127.0.0.1")
	ts.dialRaw(t, "127.0.0.1")
	c, code, text := ts.dialRaw(t, "127.0.0.1")
	if code != 421 || !strings.Contains(text, "from your address") {
		t.Fatalf("third connection: got %d %s, want 421", code, text)
	}
	c.ExpectClosed()
	if _, code, _ := ts.dialRaw(t, "127.0.0.2"); code != 220 {
		t.Fatalf("third connection in total: %d, want 220", code)
	}
	c, code, text = ts.dialRaw(t, "127.0.0.3")
	if code != 421 || !strings.Contains(text, "Too many connections") {
		t.Fatalf("fourth connection in total: got %d %s, want 421", code, text)
	}
	c.ExpectClosed()

	first.Expect("QUIT", 221)
	first.ExpectClosed()
	eventually(t, "the closed connection's slot", func() bool { return ts.l.Stats().Connections == 2 })
	if _, code, text := ts.dialRaw(t, "127.0.0.1"); code != 220 {
		t.Fatalf("after one left: %d %s, want 220", code, text)
	}
	st := ts.l.Stats()
	if st.RefusedConnPerIP != 1 || st.RefusedMaxConns != 1 {
		t.Fatalf("Stats: %d per-IP and %d total refusals, want 1 and 1", st.RefusedConnPerIP, st.RefusedMaxConns)
	}
}
