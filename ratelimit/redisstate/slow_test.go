package redisstate_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/ratelimit/redisstate"
	"github.com/redis/go-redis/v9"
)

// delayProxy is a Redis that answers late: it passes connections on to
// a real one (upstream) and holds each chunk of the replies for delay
// before passing it on, in order. Requests go through at once.
type delayProxy struct {
	ln       net.Listener
	upstream string
	delay    atomic.Int64  // nanoseconds
	done     chan struct{} // closed when the test ends: every goroutine returns

	mu    sync.Mutex
	conns []net.Conn // closed when the test ends; one pair per client connection
}

// startDelayProxy listens on 127.0.0.1 until the test ends.
func startDelayProxy(t *testing.T, upstream string, delay time.Duration) *delayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{ln: ln, upstream: upstream, done: make(chan struct{})}
	p.delay.Store(int64(delay))
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(p.done)
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Go(func() {
				_, _ = io.Copy(up, c)
				_ = up.Close()
			})
			wg.Go(func() { p.replies(up, c) })
		}
	})
	return p
}

// chunk is a piece of a reply and when it may go on.
type chunk struct {
	b   []byte
	due time.Time
}

// replies copies up to c, each chunk delay after it came. At most 64
// chunks wait at once (the reader then waits too).
func (p *delayProxy) replies(up, c net.Conn) {
	ch := make(chan chunk, 64)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 4096)
			n, err := up.Read(buf)
			if n > 0 {
				select {
				case ch <- chunk{b: buf[:n], due: time.Now().Add(time.Duration(p.delay.Load()))}:
				case <-p.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for k := range ch {
		timer := time.NewTimer(time.Until(k.due))
		select {
		case <-timer.C:
		case <-p.done:
			timer.Stop()
			return
		}
		if _, err := c.Write(k.b); err != nil {
			_ = up.Close()
			return
		}
	}
	_ = c.Close()
}

// slowClient is a go-redis client of a Redis (miniredis) behind a
// delayProxy, which starts without delay.
func slowClient(t *testing.T) (*redis.Client, *delayProxy) {
	m := miniredis.RunT(t)
	p := startDelayProxy(t, m.Addr(), 0)
	c := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c, p
}

// warmUp makes the calls of a login through in's Store while Redis
// answers at once, so that the client has a connection and Redis has
// the scripts: a login on a running instance makes one round trip per
// call, not the three of a connection's handshake and a script's first
// run.
func warmUp(t *testing.T, in *instance) {
	t.Helper()
	p := netip.MustParsePrefix("192.0.2.1/32")
	rules := ratelimit.BanRules{Failures: 5, Window: time.Minute}
	if _, _, err := in.store.Admit(bg, p, true, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := in.store.BeginLogin(bg, p, "acme", "bob", rules); err != nil {
		t.Fatal(err)
	}
	if err := in.store.EndLogin(bg, p, "acme", "bob"); err != nil {
		t.Fatal(err)
	}
	h, _, err := in.store.HoldSessions(bg, "acme", "bob", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.store.ReleaseSessions(bg, h); err != nil {
		t.Fatal(err)
	}
}

// slowDeadline is the deadline of the slow-Redis tests: long enough that
// a login's own work on a loaded machine is small beside it.
const slowDeadline = time.Second

// TestSlowRedisCostsALoginOneDeadline: a Redis that answers every call
// 0.6 deadlines late, under a user session cap, costs a connection and
// its login one deadline in all, not one per call (admission, the score
// check, the session lease, the release: 2.4 deadlines): the admission's
// call answers, the score check misses what is left of the deadline,
// and the session lease is not asked at all; failing open, the login
// succeeds.
func TestSlowRedisCostsALoginOneDeadline(t *testing.T) {
	t.Parallel()
	c, p := slowClient(t)
	cfg := ratelimit.Config{LoginFailures: 5, User: ratelimit.Limits{MaxSessions: 2}}
	a := newInstance(t, c, cfg, redisstate.Same(redisstate.RedisOptions{FailOpen: true, Deadline: slowDeadline}))
	warmUp(t, a)
	p.delay.Store(int64(slowDeadline * 6 / 10))
	start := time.Now()
	enginetest.Login(t, a.addr, "127.0.0.1", "alice", "secret")
	took := time.Since(start)
	t.Logf("connection and login with a Redis 0.6 deadlines late took %v", took)
	if took >= 2*slowDeadline {
		t.Errorf("connection and login took %v, want about one deadline (%v)", took, slowDeadline)
	}
	checkErrs(t, a.errs, "ratelimit.begin_login", "ratelimit.hold_sessions")
}

// TestSilentRedisFailClosedAfterOneDeadline: a Redis that never answers,
// with bans failing open and sessions closed: the connection waits one
// deadline at admission, then its login is refused with 421 after the
// password at once, not after two more.
func TestSilentRedisFailClosedAfterOneDeadline(t *testing.T) {
	t.Parallel()
	c, p := slowClient(t)
	cfg := ratelimit.Config{LoginFailures: 5, User: ratelimit.Limits{MaxSessions: 2}}
	a := newInstance(t, c, cfg, redisstate.Options{Bans: redisstate.RedisOptions{FailOpen: true, Deadline: slowDeadline},
		Sessions: redisstate.RedisOptions{Deadline: slowDeadline}, Rates: redisstate.RedisOptions{FailOpen: true, Deadline: slowDeadline}})
	warmUp(t, a)
	p.delay.Store(int64(time.Hour))
	start := time.Now()
	conn, code, _ := enginetest.Dial(t, a.addr, "127.0.0.1")
	if code != 220 {
		t.Fatalf("bans fail open: banner %d", code)
	}
	conn.Expect("USER alice", 331)
	if code, text := conn.Cmd("PASS secret"); code != 421 || !strings.Contains(text, "Service not available") {
		t.Fatalf("sessions fail closed: PASS got %d %s, want 421", code, text)
	}
	took := time.Since(start)
	t.Logf("connection and refusal with a silent Redis took %v", took)
	if took >= 2*slowDeadline {
		t.Errorf("connection and refusal took %v, want about one deadline (%v)", took, slowDeadline)
	}
	checkErrs(t, a.errs, "ratelimit.admit", "ratelimit.begin_login", "ratelimit.hold_sessions")
}

// checkErrs checks the errors a Store reported: the first of ops missed
// its deadline, and the later ones were not made (the login's budget
// was spent).
func checkErrs(t *testing.T, e *errLog, ops ...string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if strings.Join(e.ops, " ") != strings.Join(ops, " ") {
		t.Fatalf("errors reported for %v (%v), want %v", e.ops, e.errs, ops)
	}
	for i, err := range e.errs {
		var ne net.Error
		timeout := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
		if i == 0 && !timeout || i > 0 && !errors.Is(err, ratelimit.ErrBudgetSpent) {
			t.Fatalf("error %d (%s): %v", i, e.ops[i], err)
		}
	}
}

// TestSlowRedisReleasesLoginSlots: when a login's budget runs out before
// the release of its score check's slots (a Redis 0.4 deadlines late:
// admission and the score check answer, the session lease misses what is
// left), the release is made beside the login, so the address's and the
// account's logins in flight do not stay counted until they expire.
func TestSlowRedisReleasesLoginSlots(t *testing.T) {
	t.Parallel()
	c, p := slowClient(t)
	cfg := ratelimit.Config{LoginFailures: 5, User: ratelimit.Limits{MaxSessions: 2}}
	a := newInstance(t, c, cfg, redisstate.Same(redisstate.RedisOptions{FailOpen: true, Deadline: slowDeadline}))
	warmUp(t, a)
	p.delay.Store(int64(slowDeadline * 4 / 10))
	enginetest.Login(t, a.addr, "127.0.0.1", "alice", "secret")
	checkErrs(t, a.errs, "ratelimit.hold_sessions", "ratelimit.end_login")
	enginetest.Eventually(t, "the login's slots given back", func() bool {
		keys, err := c.Keys(bg, "test:rl:i[au]:*").Result()
		return err == nil && len(keys) == 0
	})
}
