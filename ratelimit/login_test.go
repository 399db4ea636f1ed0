package ratelimit

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestBruteForceBansAddress: 100 parallel wrong-password attempts from one
// address end in a ban; another user's correct login from another address
// works meanwhile; the banned address is refused at once, and logs in
// after the ban ends. The attacked account refuses attempts from every
// address until its score refills.
func TestBruteForceBansAddress(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cfg := Config{LoginFailures: 5, BanTime: conf.Duration(time.Hour), FailedLoginDelay: conf.Duration(20 * time.Millisecond)}
	ts := newTestServer(t, cfg, func(l *Limiter) { l.Now = clock.Now })

	const attempts = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[int]int{}
	start := make(chan struct{})
	for range attempts {
		wg.Go(func() {
			<-start
			code := bruteAttempt(t, ts.addr)
			mu.Lock()
			outcomes[code]++
			mu.Unlock()
		})
	}
	close(start)
	// Meanwhile another user's correct login from another address.
	good := ts.ftpClient(t, "127.0.0.2", "bob")
	wg.Wait()
	if err := good.NoOp(); err != nil {
		t.Fatalf("the other address's session during the attack: %v", err)
	}

	t.Logf("attempt outcomes (reply code: count): %v", outcomes)
	if outcomes[530] > cfg.LoginFailures || outcomes[530] == 0 {
		t.Fatalf("%d wrong passwords were checked, want 1 to %d before the ban", outcomes[530], cfg.LoginFailures)
	}
	if outcomes[421] != attempts-outcomes[530] {
		t.Fatalf("outcomes %v: every attempt after the ban should get 421", outcomes)
	}
	until, banned := ts.l.Banned(netip.MustParseAddr("127.0.0.1"))
	if !banned || until.Sub(clock.Now()) != time.Hour {
		t.Fatalf("Banned: %v until %v, want a ban of an hour from %v", banned, until, clock.Now())
	}
	// Banned: refused before the banner, with the reason.
	c, code, text := ts.dialRaw(t, "127.0.0.1")
	if code != 421 || !strings.Contains(text, "failed logins") {
		t.Fatalf("banned address: got %d %s, want 421", code, text)
	}
	c.ExpectClosed()
	// Still fine from elsewhere, even with a wrong password first.
	other, _, _ := ts.dialRaw(t, "127.0.0.2")
	other.Expect("USER bob", 331)
	other.Expect("PASS wrong", 530)
	other.Expect("USER bob", 331)
	other.Expect("PASS secret", 230)
	// The attacked account has no attempt left, from any address.
	locked, _, _ := ts.dialRaw(t, "127.0.0.3")
	locked.Expect("USER alice", 331)
	if code, text := locked.Cmd("PASS secret"); code != 421 || !strings.Contains(text, "account") {
		t.Fatalf("alice from another address during the lockout: %d %s, want 421", code, text)
	}

	clock.Add(time.Hour + time.Second)
	if _, banned := ts.l.Banned(netip.MustParseAddr("127.0.0.1")); banned {
		t.Fatal("still banned after the ban time")
	}
	after := ts.ftpClient(t, "127.0.0.1", "alice")
	if err := after.NoOp(); err != nil {
		t.Fatal(err)
	}
	st := ts.l.Stats()
	// A 421 comes from the ban, or from the check that refuses attempts
	// beyond the failures still allowed while others are in flight.
	if st.Bans != 1 || st.RefusedBanned+st.RefusedLoginAttempts+st.RefusedUserLoginAttempts < uint64(outcomes[421]) || st.LoginFailures < uint64(outcomes[530]) {
		t.Fatalf("Stats %+v do not match the outcomes %v", st, outcomes)
	}
}

// bruteAttempt connects from 127.0.0.1 and tries a wrong password; it
// returns the reply that ended the attempt: 421 at the banner or after
// PASS, or 530.
func bruteAttempt(t *testing.T, addr string) int {
	d := dialerFrom("127.0.0.1")
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close()
	c := enginetest.NewConn(t, conn)
	if code, _ := c.Read(); code != 220 {
		return code
	}
	if code, _ := c.Cmd("USER alice"); code != 331 {
		return code
	}
	code, _ := c.Cmd("PASS wrong")
	return code
}

// TestFailedLoginDelayHoldsNothing: a failed login is answered only after
// the delay, and another client logs in while that answer waits.
func TestFailedLoginDelayHoldsNothing(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	ts := newTestServer(t, Config{FailedLoginDelay: conf.Duration(delay)}, nil)
	slow, _, _ := ts.dialRaw(t, "127.0.0.3")
	slow.Expect("USER alice", 331)
	sent := time.Now()
	slow.Send("PASS wrong")
	// The same user from another address, during the delay.
	fast, _, _ := ts.dialRaw(t, "127.0.0.2")
	fast.Expect("USER alice", 331)
	fast.Expect("PASS secret", 230)
	if d := time.Since(sent); d >= delay {
		t.Fatalf("the other login took %v, as long as the delay: something waited on the failed login", d)
	}
	if code, _ := slow.Read(); code != 530 {
		t.Fatalf("failed login answered %d", code)
	}
	if d := time.Since(sent); d < delay {
		t.Fatalf("failed login answered after %v, want at least %v", d, delay)
	}
}

// TestSafeListNeverBanned: an address on the safe list fails as often as
// it likes without a ban.
func TestSafeListNeverBanned(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{LoginFailures: 2, FailedLoginDelay: -1, Safe: []string{"127.0.0.4/32"}}, nil)
	c, _, _ := ts.dialRaw(t, "127.0.0.4")
	for range 10 {
		c.Expect("USER alice", 331)
		c.Expect("PASS wrong", 530)
	}
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	if _, banned := ts.l.Banned(netip.MustParseAddr("127.0.0.4")); banned {
		t.Fatal("a safe address was banned")
	}
	if ts.l.Stats().Bans != 0 {
		t.Fatal("a ban was issued")
	}
}

// TestMaxSessionsPerUserAndTenant: a user at its number of sessions
// cannot log in again (421, session closed) until one ends; a tenant's
// bound counts all its users.
func TestMaxSessionsPerUserAndTenant(t *testing.T) {
	t.Parallel()
	cfg := Config{
		User:    Limits{MaxSessions: 2},
		Tenants: map[string]Limits{"acme": {MaxSessions: 3}},
	}
	ts := newTestServer(t, cfg, func(l *Limiter) {
		l.Identity = func(cc engine.ClientContext) (string, string) { return "acme", cc.User() }
	})
	login := func(user string) (*rawClient, int, string) {
		c, _, _ := ts.dialRaw(t, "127.0.0.1")
		c.Expect("USER "+user, 331)
		code, text := c.Cmd("PASS secret")
		return c, code, text
	}
	a1, code, _ := login("alice")
	if code != 230 {
		t.Fatalf("first alice: %d", code)
	}
	if _, code, _ := login("alice"); code != 230 {
		t.Fatalf("second alice: %d", code)
	}
	c, code, text := login("alice")
	if code != 421 || !strings.Contains(text, "this user") {
		t.Fatalf("third alice: %d %s, want 421", code, text)
	}
	c.ExpectClosed()
	if _, code, _ := login("bob"); code != 230 {
		t.Fatalf("bob, third of the tenant: %d", code)
	}
	c, code, text = login("bob")
	if code != 421 || !strings.Contains(text, "this tenant") {
		t.Fatalf("second bob, fourth of the tenant: %d %s, want 421", code, text)
	}
	c.ExpectClosed()

	a1.Expect("QUIT", 221)
	eventually(t, "alice's session slot", func() bool {
		var n int
		ts.l.users.peek(userKey("acme", "alice"), time.Now(), func(s *accountState) { n = s.sessions })
		return n == 1
	})
	if _, code, _ := login("alice"); code != 230 {
		t.Fatalf("alice after one of hers left: %d", code)
	}
	st := ts.l.Stats()
	if st.RefusedUserSessions != 1 || st.RefusedTenantSessions != 1 {
		t.Fatalf("Stats: %d user and %d tenant refusals, want 1 and 1", st.RefusedUserSessions, st.RefusedTenantSessions)
	}
}

// TestBanGrowsWithOffences: each new ban of an address lasts twice the
// last, up to the maximum, and ends on its own.
func TestBanGrowsWithOffences(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l, err := New(Config{LoginFailures: 2, BanTime: conf.Duration(time.Minute), MaxBanTime: conf.Duration(5 * time.Minute), FailedLoginDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	l.Now = clock.Now
	l.Logger = discardLogger()
	drv := loginVia(l, &passwordDriver{users: map[string]string{"alice": "secret", "bob": "secret"}})
	cc := &fakeSession{id: 1, remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 1}}
	done, err := l.Admit(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ip := netip.MustParseAddr("192.0.2.9")
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		// The second failure within the window bans.
		for range 2 {
			_, _ = drv.AuthUser(cc, "alice", "wrong")
		}
		until, banned := l.Banned(ip)
		if !banned || until.Sub(clock.Now()) != want {
			t.Fatalf("ban: %v for %v, want %v", banned, until.Sub(clock.Now()), want)
		}
		// bob: alice's own score stays spent for longer than the ban.
		if _, err := drv.AuthUser(cc, "bob", "secret"); err == nil {
			t.Fatal("a banned address logged in")
		}
		clock.Add(want + time.Second)
		if _, err := drv.AuthUser(cc, "bob", "secret"); err != nil {
			t.Fatalf("after the ban: %v", err)
		}
		clock.Add(time.Hour) // the failure score refills; offences are remembered
	}
}

// TestREINGivesBackTheSessionSlot: after REIN the session no longer holds
// its user's slot, so the user can log in elsewhere.
func TestREINGivesBackTheSessionSlot(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{User: Limits{MaxSessions: 1}}, nil)
	a, _, _ := ts.dialRaw(t, "127.0.0.1")
	a.Expect("USER alice", 331)
	a.Expect("PASS secret", 230)
	b, _, _ := ts.dialRaw(t, "127.0.0.2")
	b.Expect("USER alice", 331)
	if code, _ := b.Cmd("PASS secret"); code != 421 {
		t.Fatalf("second alice while the first holds the slot: %d, want 421", code)
	}
	a.Expect("REIN", 220)
	b, _, _ = ts.dialRaw(t, "127.0.0.2")
	b.Expect("USER alice", 331)
	b.Expect("PASS secret", 230)
	a.Expect("USER bob", 331)
	a.Expect("PASS secret", 230)
}

// resolvingDriver is a passwordDriver that resolves every login to
// "acme"/"alice", behind a wrapper that only has Unwrap.
type resolvingDriver struct{ *passwordDriver }

func (resolvingDriver) ResolveLogin(engine.ClientContext, string) (string, string) {
	return "acme", "alice"
}

type unwrapOnly struct{ engine.MainDriver }

func (u unwrapOnly) Unwrap() engine.MainDriver { return u.MainDriver }

// TestInstallKeepsTheDriver: Install adds a login hook and leaves
// srv.Driver as it was; the hook finds the driver's ResolveLogin through
// an Unwrap chain, so that spellings resolved to one account share its
// failure count.
func TestInstallKeepsTheDriver(t *testing.T) {
	t.Parallel()
	l, err := New(Config{LoginFailures: 2, FailedLoginDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = discardLogger()
	drv := unwrapOnly{resolvingDriver{&passwordDriver{users: map[string]string{"alice": "secret"}}}}
	srv := &engine.Server{Driver: drv}
	l.Install(srv)
	if srv.Driver != engine.MainDriver(drv) {
		t.Fatalf("Install replaced the driver with %T", srv.Driver)
	}
	if len(srv.LoginHooks) != 1 {
		t.Fatalf("%d login hooks, want 1", len(srv.LoginHooks))
	}
	if l.drv.resolve == nil {
		t.Fatal("the driver's ResolveLogin was not found through Unwrap")
	}
	// Two spellings, two addresses: one account, so the third attempt
	// is refused before the driver sees it.
	for i, login := range []string{"alice", "ALICE@acme"} {
		cc := &fakeSession{id: uint32(i + 1), remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, byte(10+i)), Port: 1}}
		lg := &engine.Login{Session: cc, User: login, Method: engine.LoginPassword}
		_, _ = srv.LoginHooks[0](context.Background(), lg, func(context.Context, *engine.Login) (engine.ClientDriver, error) {
			return drv.AuthUser(cc, login, "wrong")
		})
	}
	cc := &fakeSession{id: 3, remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 30), Port: 1}}
	asked := false
	lg := &engine.Login{Session: cc, User: "Alice", Method: engine.LoginPassword}
	_, err = srv.LoginHooks[0](context.Background(), lg, func(context.Context, *engine.Login) (engine.ClientDriver, error) {
		asked = true
		return drv.AuthUser(cc, "alice", "secret")
	})
	var re *engine.ReplyError
	if !errors.As(err, &re) || re.Code != 421 || asked {
		t.Fatalf("third attempt on the account: %v (driver asked: %v), want 421 before the driver", err, asked)
	}
}
