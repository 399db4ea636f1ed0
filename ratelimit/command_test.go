package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestCommandFloodSlowedThenClosed: a session sending commands faster than
// its rate is slowed down to it, and when it keeps on, refused with 421
// and disconnected; another session is unaffected.
func TestCommandFloodSlowedThenClosed(t *testing.T) {
	t.Parallel()
	// The limiter's clock stands still, so no token comes back however
	// slow the machine: the burst goes at once, then each command waits
	// one more 1/rate than the last (the waits themselves are real), and
	// the command after the strikes is refused. A real clock let a loaded
	// CI machine refill the bucket between commands.
	const rate, burst, strikes = 4, 5, 4
	frozen := time.Now()
	ts := newTestServer(t, Config{
		User:           Limits{CommandRate: rate, CommandBurst: burst},
		CommandDelay:   conf.Duration(time.Minute), // strikes, not one long delay, end it
		CommandStrikes: strikes,
	}, func(l *Limiter) { l.Now = func() time.Time { return frozen } })
	c, _, _ := ts.dialRaw(t, "127.0.0.1")
	c.Expect("USER alice", 331) // the default user's rate applies before login
	c.Expect("PASS secret", 230)
	start := time.Now()
	sent := 2
	for {
		sent++
		code, text := c.Cmd("NOOP")
		if code == 421 {
			if !strings.Contains(text, "Too many commands") {
				t.Fatalf("refusal text %q", text)
			}
			break
		}
		if code != 200 || sent > 100 {
			t.Fatalf("command %d: %d %s; want 200 until a 421", sent, code, text)
		}
	}
	c.ExpectClosed()
	elapsed := time.Since(start)
	// The burst goes at once; each slowed command waits about 1/rate.
	least := time.Duration(sent-burst-2) * time.Second / rate * 8 / 10
	t.Logf("closed after %d commands in %v", sent, elapsed)
	if sent > burst+strikes+2 || sent < burst+2 {
		t.Fatalf("closed after %d commands, want burst %d + %d slowed", sent, burst, strikes)
	}
	if elapsed < least {
		t.Fatalf("%d commands went in %v: not slowed to %d/s", sent, elapsed, rate)
	}
	st := ts.l.Stats()
	if st.RefusedCommands != 1 || st.DelayedCommands < strikes {
		t.Fatalf("Stats: %d refused, %d delayed; want 1 and >= %d", st.RefusedCommands, st.DelayedCommands, strikes)
	}
	other := ts.ftpClient(t, "127.0.0.1", "bob")
	if err := other.NoOp(); err != nil {
		t.Fatal(err)
	}
}

// TestPacedClientNotClosed: a client that keeps under its rate is never
// slowed or refused, however many commands it sends.
func TestPacedClientNotClosed(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	ts := newTestServer(t, Config{User: Limits{CommandRate: 10, CommandBurst: 2}, CommandStrikes: -1},
		func(l *Limiter) { l.Now = clock.Now })
	c, _, _ := ts.dialRaw(t, "127.0.0.1")
	c.Expect("USER alice", 331)
	clock.Add(time.Second)
	c.Expect("PASS secret", 230)
	for range 50 {
		clock.Add(100 * time.Millisecond) // exactly the rate
		c.Expect("NOOP", 200)
	}
	if st := ts.l.Stats(); st.DelayedCommands != 0 || st.RefusedCommands != 0 {
		t.Fatalf("a paced client was delayed %d and refused %d times", st.DelayedCommands, st.RefusedCommands)
	}
}

// TestTenantCommandRateShared: the tenant's command rate is shared by its
// sessions: once one session used it up, another session of the tenant
// is refused, while a user of another tenant is not.
func TestTenantCommandRateShared(t *testing.T) {
	t.Parallel()
	clock := newFakeClock() // frozen: nothing refills
	ts := newTestServer(t, Config{
		Tenants:        map[string]Limits{"acme": {CommandRate: 1, CommandBurst: 6}},
		CommandStrikes: -1,
	}, func(l *Limiter) {
		l.Now = clock.Now
		l.Identity = func(cc engine.ClientContext) (string, string) {
			if cc.User() == "alice" {
				return "acme", "alice"
			}
			return "other", cc.User()
		}
	})
	a, _, _ := ts.dialRaw(t, "127.0.0.1")
	a.Expect("USER alice", 331)
	a.Expect("PASS secret", 230)
	for range 6 {
		a.Expect("NOOP", 200)
	}
	a2, _, _ := ts.dialRaw(t, "127.0.0.2")
	a2.Expect("USER alice", 331)
	a2.Expect("PASS secret", 230) // the tenant is known only after login
	if code, _ := a2.Cmd("NOOP"); code != 421 {
		t.Fatalf("second session of the tenant over the shared rate: %d, want 421", code)
	}
	a2.ExpectClosed()
	b, _, _ := ts.dialRaw(t, "127.0.0.2")
	b.Expect("USER bob", 331)
	b.Expect("PASS secret", 230)
	b.Expect("NOOP", 200)
}
