package redisstate_test

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/ratelimit/redisstate"
	"github.com/jlaffaye/ftp"
)

func newStore(t *testing.T, r *testRedis) *redisstate.Store {
	t.Helper()
	s, err := redisstate.New(redisstate.Same(redisstate.RedisOptions{Client: r.client(t), Prefix: "test:", Deadline: testDeadline}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestAccountKeysDistinct: the accounts ("a/b", "c") and ("a", "b/c")
// have one session each under a cap of one: their keys differ, though
// "tenant/user" spells both "a/b/c".
func TestAccountKeysDistinct(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		s := newStore(t, r)
		for _, acc := range [][2]string{{"a/b", "c"}, {"a", "b/c"}, {"", "a/b/c"}} {
			if h, full, err := s.HoldSessions(bg, acc[0], acc[1], 1, 0); err != nil || full != 0 || h == nil {
				t.Fatalf("HoldSessions%v: %v %d %v, want a hold", acc, h, full, err)
			}
		}
		if _, full, err := s.HoldSessions(bg, "a", "b/c", 1, 0); err != nil || full != 1 {
			t.Fatalf("a second session of (a, b/c): full %d %v, want 1", full, err)
		}
	})
}

// TestBansGrowAndLiftByPrefix: a ban's length doubles with each offence
// remembered, up to the maximum; an IPv6 ban covers its /64, is listed
// as that prefix, and lifting any address in it (or a wider prefix)
// lifts it and forgets the offences.
func TestBansGrowAndLiftByPrefix(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		s := newStore(t, r)
		rules := ratelimit.BanRules{Failures: 1, Window: time.Minute, BanTime: 40 * time.Millisecond,
			MaxBanTime: 100 * time.Millisecond, BanMemory: time.Hour, MaxBans: 10}
		p := netip.MustParsePrefix("2001:db8:1:2::/64")
		var lengths []time.Duration
		base := time.Now().Truncate(time.Millisecond) // Redis time is in ms
		ended := func() {
			enginetest.Eventually(t, "the previous ban to end", func() bool {
				u, err := s.Banned(bg, p)
				return err == nil && u.IsZero()
			})
		}
		for want := 1; want <= 3; want++ {
			start := time.Now()
			if r.mini != nil {
				// Each offence an hour after the last: the ban is over.
				start = base.Add(time.Duration(want) * time.Hour)
				r.mini.SetTime(start)
			}
			ended()
			b, err := s.LoginFailed(bg, p, "t", "u", true, rules)
			if err != nil || b.Offences != want || b.Until.IsZero() {
				t.Fatalf("offence %d: %+v %v", want, b, err)
			}
			lengths = append(lengths, b.Until.Sub(start))
		}
		if r.mini != nil {
			// Redis's clock is the test's: exact lengths.
			for i, want := range []time.Duration{40, 80, 100} {
				if lengths[i] != want*time.Millisecond {
					t.Fatalf("ban %d lasted %v, want %v (lengths %v)", i+1, lengths[i], want*time.Millisecond, lengths)
				}
			}
			r.mini.SetTime(base.Add(4 * time.Hour))
		}
		ended()
		rules.BanTime, rules.MaxBanTime = time.Hour, time.Hour
		b, err := s.LoginFailed(bg, p, "t", "u", true, rules)
		if err != nil || b.Offences != 4 {
			t.Fatalf("fourth offence: %+v %v", b, err)
		}
		bans, total, err := s.Bans(bg, 0)
		if err != nil || total != 1 || bans[0].Prefix != p || bans[0].Offences != 4 {
			t.Fatalf("Bans: %v %d %v", bans, total, err)
		}
		if n, err := s.Lift(bg, netip.MustParsePrefix("2001:db8:1:2::77/128"), 32, 64); err != nil || n != 1 {
			t.Fatalf("Lift of an address in the /64: %d %v, want 1", n, err)
		}
		if u, err := s.Banned(bg, p); err != nil || !u.IsZero() {
			t.Fatalf("Banned after the lift: %v %v", u, err)
		}
		b, err = s.LoginFailed(bg, p, "t", "u", true, rules)
		if err != nil || b.Offences != 1 {
			t.Fatalf("after the lift the next ban is a first one: %+v %v", b, err)
		}
		if n, err := s.Lift(bg, netip.MustParsePrefix("2001:db8::/32"), 32, 64); err != nil || n != 1 {
			t.Fatalf("Lift of a wider prefix: %d %v, want 1", n, err)
		}
	})
}

// TestBanListCapped: the ban index keeps at most MaxBans bans; the one
// that ends first goes.
func TestBanListCapped(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		s := newStore(t, r)
		rules := ratelimit.BanRules{Failures: 1, Window: time.Minute, BanTime: time.Hour,
			MaxBanTime: 24 * time.Hour, BanMemory: time.Hour, MaxBans: 3}
		for i := range 5 {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32)
			if _, err := s.LoginFailed(bg, p, "", "x", true, rules); err != nil {
				t.Fatal(err)
			}
		}
		if _, total, err := s.Bans(bg, 0); err != nil || total != 3 {
			t.Fatalf("Bans total %d %v, want 3", total, err)
		}
		if n, err := s.CountBans(bg); err != nil || n != 3 {
			t.Fatalf("CountBans %d %v, want 3", n, err)
		}
	})
}

// TestEveryKeyHasTTL: after bans, failure scores, logins in flight,
// sessions and both shared rates were used, every key in Redis expires.
func TestEveryKeyHasTTL(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		cfg := banCfg
		cfg.ConnRate, cfg.ConnBurst = 100, 100
		cfg.User.MaxSessions, cfg.Tenant.MaxSessions = 5, 5
		cfg.Tenant.CommandRate = 100
		in := newInstance(t, c, cfg, redisstate.Options{})
		for range 4 {
			failLogin(t, in.addr, "127.0.0.7", "bob")
		}
		conn := enginetest.Login(t, in.addr, "127.0.0.1", "alice", "secret")
		if err := conn.NoOp(); err != nil {
			t.Fatal(err)
		}
		if _, err := in.store.BeginLogin(bg, netip.MustParsePrefix("192.0.2.9/32"), "acme", "x", ratelimit.BanRules{Failures: 4, Window: time.Minute}); err != nil {
			t.Fatal(err)
		}
		keys, err := c.Keys(bg, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) < 8 {
			t.Fatalf("keys %v: fewer than the test made", keys)
		}
		for _, k := range keys {
			ttl, err := c.PTTL(bg, k).Result()
			if err != nil || ttl <= 0 {
				t.Errorf("key %q: TTL %v %v, want one", k, ttl, err)
			}
		}
	})
}

// TestMadeUpUserNamesBounded: 100,000 failed logins of one tenant (2,000
// on miniredis, which compiles every script it runs), each for a new
// made-up user name, leave at most MaxAccounts account scores in Redis
// (and the tenant's index), not one per name. A real user's failures
// then still count, through a real client: its address is banned at the
// threshold, and the account is refused from another address.
func TestMadeUpUserNamesBounded(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		const maxAccounts, workers = 64, 8
		names := 100_000
		if r.mini != nil {
			names = 2_000
		}
		c := r.client(t)
		cfg := ratelimit.Config{LoginFailures: 3, BanTime: conf.Duration(time.Hour), FailedLoginDelay: -1, MaxTrackedUsers: maxAccounts}
		in := newInstance(t, c, cfg, redisstate.Options{})
		// A score that no spray fills, so that no ban cuts the spray short.
		spray := ratelimit.BanRules{Failures: 1 << 30, Window: time.Hour, BanTime: time.Hour, MaxBanTime: time.Hour,
			BanMemory: time.Hour, MaxBans: 10, MaxAccounts: maxAccounts}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(w)}), 32)
				for i := w; i < names; i += workers {
					if _, err := in.store.LoginFailed(bg, p, "acme", "nobody-"+strconv.Itoa(i), false, spray); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		count := func(pattern string) int {
			keys, err := c.Keys(bg, pattern).Result()
			if err != nil {
				t.Fatal(err)
			}
			return len(keys)
		}
		fu, fx, all := count("test:rl:fu:*"), count("test:rl:fx:*"), count("*")
		// Besides the scores: the index, and each worker's address score.
		if fu > maxAccounts || fx != 1 || all > maxAccounts+1+workers {
			t.Fatalf("after %d made-up names: %d account scores, %d indexes, %d keys in all; want at most %d scores",
				names, fu, fx, all, maxAccounts)
		}
		for i := 1; i <= 3; i++ {
			if code := failLogin(t, in.addr, "127.0.0.2", "bob"); code != 530 {
				t.Fatalf("bob's failure %d: PASS got %d, want 530", i, code)
			}
		}
		if code := banner(t, in.addr, "127.0.0.2"); code != 421 {
			t.Fatalf("the address that failed bob's logins got %d, want 421 (banned)", code)
		}
		if err := tryLogin(t, in.addr, "bob"); err == nil || !strings.Contains(err.Error(), "failed logins for this account") {
			t.Fatalf("bob from another address after his failures: %v, want 421 for the account", err)
		}
		enginetest.Login(t, in.addr, "127.0.0.3", "alice", "secret")
	})
}

// TestLongUserNamesKeepKeysSmall: failed logins through a real client
// with user names as long as a command line allows (8000 bytes) leave no
// key and no index member in Redis longer than a few hundred bytes, so
// that the per-tenant cap on scored names (MaxTrackedUsers) also bounds
// their memory. The scores still hold: three failures for one long name,
// each from another address, refuse that account from a fourth; a name
// sharing its first 7999 bytes is scored apart.
func TestLongUserNamesKeepKeysSmall(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		c := r.client(t)
		cfg := ratelimit.Config{LoginFailures: 3, BanTime: conf.Duration(time.Hour), FailedLoginDelay: -1}
		in := newInstance(t, c, cfg, redisstate.Options{})
		long := strings.Repeat("x", 7999)
		for i := 1; i <= 3; i++ {
			if code := failLogin(t, in.addr, "127.0.0."+strconv.Itoa(10+i), long+"a"); code != 530 {
				t.Fatalf("failure %d of the long name: PASS got %d, want 530", i, code)
			}
		}
		if code := failLogin(t, in.addr, "127.0.0.20", long+"b"); code != 530 {
			t.Fatalf("another long name: PASS got %d, want 530 (scored apart)", code)
		}
		c4, err := ftp.Dial(in.addr, ftp.DialWithDialer(*enginetest.Dialer("127.0.0.21")), ftp.DialWithTimeout(enginetest.Timeout))
		if err != nil {
			t.Fatal(err)
		}
		defer c4.Quit()
		if err := c4.Login(long+"a", "wrong"); err == nil || !strings.Contains(err.Error(), "failed logins for this account") {
			t.Fatalf("the long name after its three failures: %v, want the account refused", err)
		}
		const bound = 256
		keys, err := c.Keys(bg, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if len(k) > bound {
				t.Errorf("key of %d bytes (%.60q...), want at most %d", len(k), k, bound)
			}
			if strings.HasPrefix(k, "test:rl:fx:") {
				ms, err := c.ZRange(bg, k, 0, -1).Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					if len(m) > bound {
						t.Errorf("index %s: member of %d bytes, want at most %d", k, len(m), bound)
					}
				}
			}
		}
		if in.errs.count() != 0 {
			t.Fatalf("Redis errors: %v", in.errs.errs)
		}
	})
}

// TestBanMemoryBounded: bans of many addresses (an IPv6 range's /64s),
// each ended at once but remembered for an hour, leave at most MaxBans
// ban keys in Redis, not one per address banned. Bans still work after
// the spray, through a real client: four failures ban the address on
// both instances of a cluster, and a lift through one lifts it.
func TestBanMemoryBounded(t *testing.T) {
	eachRedis(t, func(t *testing.T, r *testRedis) {
		const maxBans, sprayed = 16, 300
		c := r.client(t)
		cfg := banCfg
		cfg.MaxBans = maxBans
		a := newInstance(t, c, cfg, redisstate.Options{})
		b := newInstance(t, c, cfg, redisstate.Options{})
		spray := ratelimit.BanRules{Failures: 1, Window: time.Minute, BanTime: time.Millisecond, MaxBanTime: time.Millisecond,
			BanMemory: time.Hour, MaxBans: maxBans}
		for i := range sprayed {
			p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(i >> 8), byte(i)}), 64)
			if _, err := a.store.LoginFailed(bg, p, "", "x", true, spray); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := c.Keys(bg, "test:rl:ban:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > maxBans {
			t.Fatalf("after %d bans of distinct /64s: %d ban keys in Redis, want at most %d", sprayed, len(keys), maxBans)
		}
		for i, in := range []*instance{a, b, a, b} {
			if code := failLogin(t, in.addr, "127.0.0.1", "bob"); code != 530 {
				t.Fatalf("failure %d: PASS got %d, want 530", i+1, code)
			}
		}
		for _, in := range []*instance{a, b} {
			if code := banner(t, in.addr, "127.0.0.1"); code != 421 {
				t.Fatalf("the banned address got %d, want 421", code)
			}
		}
		if n := b.l.Lift(netip.MustParsePrefix("127.0.0.1/32")); n != 1 {
			t.Fatalf("Lift: %d, want 1", n)
		}
		if code := banner(t, a.addr, "127.0.0.1"); code != 220 {
			t.Fatalf("after the lift: %d, want 220", code)
		}
	})
}
