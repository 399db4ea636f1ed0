package ratelimit

import (
	"bytes"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/jlaffaye/ftp"
)

// The tests below guard what a session caches of its limits
// (sessionState.sync): the tenant's command rate and bucket, and the
// buckets its transfers are metered against.

// acmeAndGlobex is the identity of the tests below: alice of tenant acme,
// bob of tenant globex.
func acmeAndGlobex(l *Limiter) {
	l.Identity = tenantsOf(map[string]string{"alice": "acme", "bob": "globex"})
}

// nopsUntilRefused sends NOOP until one is refused with 421, at most
// limit times, and returns how many were answered 200.
func nopsUntilRefused(t *testing.T, c *rawClient, limit int) int {
	t.Helper()
	for i := range limit {
		switch code, text := c.Cmd("NOOP"); code {
		case 200:
		case 421:
			if !strings.Contains(text, "Too many commands") {
				t.Fatalf("refusal text %q", text)
			}
			c.ExpectClosed()
			return i
		default:
			t.Fatalf("NOOP: %d %s", code, text)
		}
	}
	return limit
}

// TestReloadChangesTenantCommandRateOfSession: a reload that lowers a
// tenant's command rate, or gives it one where it had none, takes effect
// on the next command of a session that logged in, and used the rate,
// before it (the session's cached bucket is dropped).
func TestReloadChangesTenantCommandRateOfSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		before, after Config
		nops, want    int // commands before the reload; allowed after it
	}{
		{"lowered", Config{Tenants: map[string]Limits{"acme": {CommandRate: 1, CommandBurst: 1000}}, CommandStrikes: -1},
			Config{Tenants: map[string]Limits{"acme": {CommandRate: 1, CommandBurst: 3}}, CommandStrikes: -1}, 5, 3},
		{"set", Config{CommandStrikes: -1},
			Config{Tenant: Limits{CommandRate: 1, CommandBurst: 2}, CommandStrikes: -1}, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock() // frozen: nothing refills
			ts := newTestServer(t, tc.before, func(l *Limiter) { l.Now = clock.Now; acmeAndGlobex(l) })
			a, _, _ := ts.dialRaw(t, "127.0.0.1")
			a.Expect("USER alice", 331)
			a.Expect("PASS secret", 230)
			for range tc.nops {
				a.Expect("NOOP", 200)
			}
			if err := ts.l.SetConfig(tc.after); err != nil {
				t.Fatal(err)
			}
			if n := nopsUntilRefused(t, a, 20); n != tc.want {
				t.Fatalf("%d commands after the reload, want %d", n, tc.want)
			}
		})
	}
}

// TestCommandRateFollowsReLogin: after REIN and a login as a user of
// another tenant, a session's commands count against the new tenant's
// rate, never the old one's.
func TestCommandRateFollowsReLogin(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	ts := newTestServer(t, Config{
		Tenants:        map[string]Limits{"acme": {CommandRate: 1, CommandBurst: 4}, "globex": {CommandRate: 1, CommandBurst: 40}},
		CommandStrikes: -1,
	}, func(l *Limiter) { l.Now = clock.Now; acmeAndGlobex(l) })
	c, _, _ := ts.dialRaw(t, "127.0.0.1")
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230) // the tenant is known only after login
	c.Expect("NOOP", 200)        // acme's 1st token
	c.Expect("NOOP", 200)        // acme's 2nd
	c.Expect("REIN", 220)        // no tenant's rate before login
	c.Expect("USER bob", 331)
	c.Expect("PASS secret", 230)
	for range 10 {
		c.Expect("NOOP", 200) // globex's: acme has 2 left
	}
	// And acme's bucket was not drawn on by bob's commands.
	a, _, _ := ts.dialRaw(t, "127.0.0.2")
	a.Expect("USER alice", 331)
	a.Expect("PASS secret", 230)
	if n := nopsUntilRefused(t, a, 20); n != 2 {
		t.Fatalf("acme allowed %d more commands, want its 2 left", n)
	}
}

// TestTransferRateFollowsReLogin: after REIN and a login as another user,
// a session's transfers are metered against the new user's rate.
func TestTransferRateFollowsReLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{Users: map[string]Limits{"bob": {DownloadRate: testRate}}}, nil)
	want := ts.writeFile(t, "f.bin", testSize/2)
	c := ts.ftpClient(t, "127.0.0.1", "alice")
	retrMetered(t, c, want, "")        // alice: no rate
	if err := c.Logout(); err != nil { // REIN
		t.Fatal(err)
	}
	if err := c.Login("bob", "secret"); err != nil {
		t.Fatal(err)
	}
	retrMetered(t, c, want, "bob's download after alice's on one session")
}

// retrMetered downloads f.bin through c and checks its bytes against want
// and, unless what is "", that it took as long as testRate says.
func retrMetered(t *testing.T, c *ftp.ServerConn, want []byte, what string) {
	t.Helper()
	start := time.Now()
	got := retr(t, c, "f.bin")
	if what != "" {
		checkDuration(t, what, len(want), time.Since(start))
	}
	if !bytes.Equal(got, want) {
		t.Fatal("downloaded bytes differ")
	}
}

// TestReloadLowersTransferRateOfSession: a reload that lowers the rate a
// session's earlier transfer was metered against (far above what
// loopback does) applies to the session's next transfer.
func TestReloadLowersTransferRateOfSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{Tenant: Limits{DownloadRate: 1 << 40}}, acmeAndGlobex)
	want := ts.writeFile(t, "f.bin", testSize/2)
	c := ts.ftpClient(t, "127.0.0.1", "alice")
	retrMetered(t, c, want, "")
	if err := ts.l.SetConfig(Config{Tenant: Limits{DownloadRate: testRate}}); err != nil {
		t.Fatal(err)
	}
	retrMetered(t, c, want, "download after lowering the tenant's rate")
}

// TestOverridesAskedOnEveryCommand: the limits an OverrideFunc gives are
// not cached: a change in what it answers applies to the next command of
// a session, with no reload.
func TestOverridesAskedOnEveryCommand(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var limited atomic.Bool
	ts := newTestServer(t, Config{CommandStrikes: -1}, func(l *Limiter) {
		l.Now = clock.Now
		acmeAndGlobex(l)
		l.Overrides = func(tenant, user string) (Limits, Limits) {
			if tenant == "acme" && user == "" && limited.Load() {
				return Limits{CommandRate: 1, CommandBurst: 2}, Limits{}
			}
			return Limits{}, Limits{}
		}
	})
	a, _, _ := ts.dialRaw(t, "127.0.0.1")
	a.Expect("USER alice", 331)
	a.Expect("PASS secret", 230)
	for range 5 {
		a.Expect("NOOP", 200)
	}
	limited.Store(true)
	if n := nopsUntilRefused(t, a, 20); n != 2 {
		t.Fatalf("%d commands after the override set a burst of 2, want 2", n)
	}
}

// TestPassiveHoldReleasedOnce: a passive port's release gives it back
// once, however often it is called.
func TestPassiveHoldReleasedOnce(t *testing.T) {
	t.Parallel()
	l, err := New(Config{PassivePerIP: 2, PassivePerUser: -1, PassivePerTenant: -1})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = discardLogger()
	cc := &fakeSession{id: 1, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
	done, err := l.Admit(t.Context(), cc)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	pp := &engine.PassivePort{Session: cc, Verb: "EPSV", Ports: 100}
	r1, err := l.HoldPassivePort(t.Context(), pp)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.HoldPassivePort(t.Context(), pp)
	if err != nil {
		t.Fatal(err)
	}
	r1()
	r1()
	if got := l.PassiveStats().Held; got != 1 {
		t.Fatalf("held %d after one of two ports was released twice, want 1", got)
	}
	if _, err := l.HoldPassivePort(t.Context(), pp); err != nil {
		t.Fatalf("a port over the released one: %v", err)
	}
	if _, err := l.HoldPassivePort(t.Context(), pp); err == nil {
		t.Fatal("a third port held at once under a cap of 2")
	}
	r2()
}

// TestOverridesAskedOnEveryTransfer: likewise for a transfer's rates: a
// change in what the OverrideFunc answers applies to the session's next
// transfer, with no reload.
func TestOverridesAskedOnEveryTransfer(t *testing.T) {
	t.Parallel()
	var limited atomic.Bool
	ts := newTestServer(t, Config{}, func(l *Limiter) {
		l.Overrides = func(_, user string) (Limits, Limits) {
			if user == "alice" && limited.Load() {
				return Limits{}, Limits{DownloadRate: testRate}
			}
			return Limits{}, Limits{}
		}
	})
	want := ts.writeFile(t, "f.bin", testSize/2)
	c := ts.ftpClient(t, "127.0.0.1", "alice")
	if got := retr(t, c, "f.bin"); !bytes.Equal(got, want) {
		t.Fatal("downloaded bytes differ")
	}
	limited.Store(true)
	start := time.Now()
	got := retr(t, c, "f.bin")
	checkDuration(t, "download after the override set a rate", testSize/2, time.Since(start))
	if !bytes.Equal(got, want) {
		t.Fatal("downloaded bytes differ")
	}
}
