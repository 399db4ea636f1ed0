package redisstate_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/ratelimit/redisstate"
	"github.com/jlaffaye/ftp"
	"github.com/redis/go-redis/v9"
)

// banCfg bans an address at its fourth failed login, for an hour, and
// answers failures at once.
var banCfg = ratelimit.Config{LoginFailures: 4, BanTime: conf.Duration(time.Hour), FailedLoginDelay: -1}

// TestFailedLoginsOnTwoInstancesBanOnBoth: four failed logins from one
// address, spread over two instances (two each, for two accounts), ban
// the address on both: each alone saw only two. Bans lists it on the
// other instance; a lift through one instance lifts it on both.
func TestFailedLoginsOnTwoInstancesBanOnBoth(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		a := newInstance(t, c, banCfg, redisstate.Options{})
		b := newInstance(t, c, banCfg, redisstate.Options{})
		for i, in := range []*instance{a, b, a, b} {
			user := []string{"alice", "bob"}[i%2]
			if code := failLogin(t, in.addr, "127.0.0.1", user); code != 530 {
				t.Fatalf("failure %d: PASS got %d, want 530", i+1, code)
			}
		}
		for name, in := range map[string]*instance{"a": a, "b": b} {
			if code := banner(t, in.addr, "127.0.0.1"); code != 421 {
				t.Fatalf("instance %s: the banned address got %d, want 421", name, code)
			}
			if code := banner(t, in.addr, "127.0.0.2"); code != 220 {
				t.Fatalf("instance %s: another address got %d, want 220", name, code)
			}
		}
		bans, total := b.l.Bans(0)
		if total != 1 || bans[0].Prefix != netip.MustParsePrefix("127.0.0.1/32") || bans[0].Offences != 1 {
			t.Fatalf("Bans on b: %v (total %d), want 127.0.0.1/32 once", bans, total)
		}
		if n := b.l.ActiveBans(); n != 1 {
			t.Fatalf("ActiveBans on b: %d, want 1", n)
		}
		if n := a.l.Lift(netip.MustParsePrefix("127.0.0.0/8")); n != 1 {
			t.Fatalf("Lift on a: %d, want 1", n)
		}
		for name, in := range map[string]*instance{"a": a, "b": b} {
			if code := banner(t, in.addr, "127.0.0.1"); code != 220 {
				t.Fatalf("instance %s after the lift: %d, want 220", name, code)
			}
		}
		enginetest.Login(t, b.addr, "127.0.0.1", "alice", "secret")
		if a.errs.count() != 0 || b.errs.count() != 0 {
			t.Fatalf("Redis errors: %v %v", a.errs.errs, b.errs.errs)
		}
	})
}

// TestSessionCapsHoldAcrossInstances: one session per user and two per
// tenant, counted over both instances; a session's end frees its slot
// everywhere.
func TestSessionCapsHoldAcrossInstances(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		cfg := ratelimit.Config{User: ratelimit.Limits{MaxSessions: 1}, Tenant: ratelimit.Limits{MaxSessions: 2}}
		a := newInstance(t, c, cfg, redisstate.Options{})
		b := newInstance(t, c, cfg, redisstate.Options{})
		alice := enginetest.Login(t, a.addr, "127.0.0.1", "alice", "secret")
		if err := tryLogin(t, b.addr, "alice"); err == nil || !strings.Contains(err.Error(), "421") ||
			!strings.Contains(err.Error(), "sessions for this user") {
			t.Fatalf("alice's second session, on b: %v, want 421 too many sessions for this user", err)
		}
		enginetest.Login(t, b.addr, "127.0.0.1", "bob", "secret")
		if err := tryLogin(t, a.addr, "carol"); err == nil || !strings.Contains(err.Error(), "sessions for this tenant") {
			t.Fatalf("a third session of the tenant, on a: %v, want 421 too many sessions for this tenant", err)
		}
		if err := alice.Quit(); err != nil {
			t.Fatal(err)
		}
		enginetest.Eventually(t, "alice's slot freed by her quit on a", func() bool {
			return tryLogin(t, b.addr, "alice") == nil
		})
	})
}

// tryLogin logs user in on addr with jlaffaye/ftp and quits at once
// when it worked.
func tryLogin(t *testing.T, addr, user string) error {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithDialer(*enginetest.Dialer("127.0.0.1")), ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		return err
	}
	defer c.Quit()
	return c.Login(user, "secret")
}

// TestDeadInstanceLeaseExpires: a live instance's heartbeat renews its
// session's lease, so the user's only slot stays taken; once the
// instance dies with the session (its heartbeat stopped, its Redis
// client gone, so it gives nothing back) the slot frees itself when the
// lease runs out.
func TestDeadInstanceLeaseExpires(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		cfg := ratelimit.Config{User: ratelimit.Limits{MaxSessions: 1}}
		dyingClient := r.client(t)
		a := newInstance(t, dyingClient, cfg, redisstate.Options{Lease: 3 * time.Second})
		b := newInstance(t, r.client(t), cfg, redisstate.Options{})
		alice := enginetest.Login(t, a.addr, "127.0.0.1", "alice", "secret")
		// While a lives, its heartbeat moves the lease's expiry on, and
		// the slot stays taken.
		key := "test:rl:su:4:acme/alice"
		c := r.client(t)
		first := leaseExpiry(t, c, key)
		enginetest.Eventually(t, "a's heartbeat to renew alice's lease", func() bool {
			return leaseExpiry(t, c, key) > first
		})
		if err := tryLogin(t, b.addr, "alice"); err == nil || !strings.Contains(err.Error(), "421") {
			t.Fatalf("alice on b while a renews her lease: %v, want 421", err)
		}
		a.store.Close()
		_ = dyingClient.Close()
		_ = alice.Quit() // a's logout cannot reach Redis any more
		enginetest.Eventually(t, "alice's lease held by the dead instance expires", func() bool {
			return tryLogin(t, b.addr, "alice") == nil
		})
	})
}

// leaseExpiry returns the expiry (Redis ms) of the one lease in the
// sorted set key.
func leaseExpiry(t *testing.T, c *redis.Client, key string) float64 {
	t.Helper()
	z, err := c.ZRangeWithScores(bg, key, 0, -1).Result()
	if err != nil || len(z) != 1 {
		t.Fatalf("leases in %s: %v %v, want one", key, z, err)
	}
	return z[0].Score
}

// TestTenantCommandRateShared: a tenant's command rate (burst 2, next
// token in 1000 s) is one bucket for its sessions on both instances.
func TestTenantCommandRateShared(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		cfg := ratelimit.Config{Tenant: ratelimit.Limits{CommandRate: 0.001, CommandBurst: 2},
			CommandDelay: conf.Duration(time.Millisecond)}
		a := newInstance(t, c, cfg, redisstate.Options{})
		b := newInstance(t, c, cfg, redisstate.Options{})
		login := func(in *instance, user string) *enginetest.Conn {
			conn, code, _ := enginetest.Dial(t, in.addr, "127.0.0.1")
			if code != 220 {
				t.Fatalf("banner %d", code)
			}
			conn.Expect("USER "+user, 331)
			conn.Expect("PASS secret", 230)
			return conn
		}
		ca, cb := login(a, "alice"), login(b, "bob")
		ca.Expect("NOOP", 200)
		cb.Expect("NOOP", 200)
		if code, text := ca.Cmd("NOOP"); code != 421 || !strings.Contains(text, "Too many commands") {
			t.Fatalf("the tenant's third command: %d %s, want 421", code, text)
		}
		if st := a.l.Stats(); st.RefusedCommands != 1 {
			t.Fatalf("RefusedCommands on a: %d, want 1", st.RefusedCommands)
		}
	})
}

// TestConnectionRateShared: an address's rate of new connections (burst
// 2, next in 1000 s) holds over both instances.
func TestConnectionRateShared(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		cfg := ratelimit.Config{ConnRate: 0.001, ConnBurst: 2}
		a := newInstance(t, c, cfg, redisstate.Options{})
		b := newInstance(t, c, cfg, redisstate.Options{})
		for i, want := range []struct {
			in   *instance
			code int
		}{{a, 220}, {b, 220}, {a, 421}, {b, 421}} {
			if code := banner(t, want.in.addr, "127.0.0.3"); code != want.code {
				t.Fatalf("connection %d: %d, want %d", i+1, code, want.code)
			}
		}
		if code := banner(t, a.addr, "127.0.0.4"); code != 220 {
			t.Fatalf("another address: %d, want 220", code)
		}
	})
}

// TestRedisDownFailClosed: with Redis stopped, an instance that fails
// closed refuses connections (bans cannot be checked) with a 421 that
// names no cause; failing open for bans but closed for sessions, a
// correct login is refused after its password. Once Redis is back, both
// work again without a restart.
func TestRedisDownFailClosed(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		cfg := ratelimit.Config{LoginFailures: 5, User: ratelimit.Limits{MaxSessions: 2}}
		closed := newInstance(t, c, cfg, redisstate.Options{})
		mixed := newInstance(t, c, cfg, redisstate.Options{Bans: redisstate.RedisOptions{FailOpen: true}})
		r.stop()
		conn, code, text := enginetest.Dial(t, closed.addr, "127.0.0.1")
		if code != 421 || !strings.Contains(text, "Service not available") {
			t.Fatalf("fail closed, Redis down: %d %s, want 421 Service not available", code, text)
		}
		conn.ExpectClosed()
		if st := closed.l.Stats(); st.RefusedShared != 1 || closed.errs.count() == 0 {
			t.Fatalf("RefusedShared %d, errors reported %d", st.RefusedShared, closed.errs.count())
		}
		conn, code, _ = enginetest.Dial(t, mixed.addr, "127.0.0.1")
		if code != 220 {
			t.Fatalf("fail open for bans: banner %d", code)
		}
		conn.Expect("USER alice", 331)
		if code, text := conn.Cmd("PASS secret"); code != 421 || !strings.Contains(text, "Service not available") {
			t.Fatalf("fail closed for sessions: %d %s, want 421", code, text)
		}
		r.restart()
		enginetest.Eventually(t, "a login through the fail-closed instance once Redis is back", func() bool {
			return tryLogin(t, closed.addr, "alice") == nil
		})
		enginetest.Login(t, mixed.addr, "127.0.0.1", "bob", "secret")
	})
}

// TestRedisDownFailOpen: with Redis stopped, an instance that fails open
// serves from its local tables: logins work, and failed logins still ban
// the address locally. Once Redis is back, bans are shared again.
func TestRedisDownFailOpen(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		o := redisstate.Same(redisstate.RedisOptions{FailOpen: true})
		a := newInstance(t, c, banCfg, o)
		b := newInstance(t, c, banCfg, o)
		r.stop()
		enginetest.Login(t, a.addr, "127.0.0.1", "alice", "secret")
		for i := range 4 {
			if code := failLogin(t, a.addr, "127.0.0.5", "bob"); code != 530 {
				t.Fatalf("failure %d with Redis down: %d, want 530", i+1, code)
			}
		}
		if code := banner(t, a.addr, "127.0.0.5"); code != 421 {
			t.Fatalf("the local ban with Redis down: %d, want 421", code)
		}
		if a.errs.count() == 0 {
			t.Fatal("no error reported while Redis was down")
		}
		r.restart()
		enginetest.Eventually(t, "Redis answers again", func() bool { return c.Ping(bg).Err() == nil })
		for i, in := range []*instance{a, b, a, b} {
			if code := failLogin(t, in.addr, "127.0.0.6", []string{"alice", "carol"}[i%2]); code != 530 {
				t.Fatalf("failure %d after recovery: %d, want 530", i+1, code)
			}
		}
		if code := banner(t, b.addr, "127.0.0.6"); code != 421 {
			t.Fatalf("the shared ban after recovery: %d, want 421", code)
		}
	})
}

// TestDeadlineBoundsSlowRedis: a Redis that accepts but never answers
// delays a connection and its login by at most the deadline; failing
// open, the login succeeds, and the error reported is the deadline's.
func TestDeadlineBoundsSlowRedis(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() }) // silent until the test ends
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	cfg := ratelimit.Config{LoginFailures: 5, User: ratelimit.Limits{MaxSessions: 2}}
	a := newInstance(t, c, cfg, redisstate.Same(redisstate.RedisOptions{FailOpen: true, Deadline: 20 * time.Millisecond}))
	start := time.Now()
	enginetest.Login(t, a.addr, "127.0.0.1", "alice", "secret")
	t.Logf("login with a silent Redis took %v", time.Since(start))
	// The admission's call misses the deadline; the login's calls, which
	// share it (ratelimit.Budget), are not made.
	checkErrs(t, a.errs, "ratelimit.admit", "ratelimit.begin_login", "ratelimit.hold_sessions")
}
