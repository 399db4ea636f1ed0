package redisstate_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/ratelimit/redisstate"
	"github.com/jlaffaye/ftp"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/afero"
)

// testRedis is a Redis for a test: miniredis, or Debian's redis-server.
type testRedis struct {
	addr    string
	stop    func()
	restart func()
	mini    *miniredis.Miniredis // nil for the real server
}

// eachRedis runs fn against miniredis and against a real redis-server
// (skipped when it is missing, failing under FTPGATE_INTEGRATION=1).
func eachRedis(t *testing.T, fn func(t *testing.T, r *testRedis)) {
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		m := miniredis.RunT(t)
		fn(t, &testRedis{addr: m.Addr(), mini: m, stop: m.Close, restart: func() {
			if err := m.Restart(); err != nil {
				t.Fatal(err)
			}
		}})
	})
	t.Run("redis-server", func(t *testing.T) {
		t.Parallel()
		s := redistest.Start(t)
		fn(t, &testRedis{addr: s.Addr(), stop: s.Stop, restart: s.Restart})
	})
}

// client returns a go-redis client of r, closed when the test ends. It
// does not retry, so that a stopped Redis fails a call at once, and
// heeds the calls' deadlines (without ContextTimeoutEnabled go-redis
// waits its own read timeout, 3 s).
func (r *testRedis) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// errLog records the errors a Store reports.
type errLog struct {
	mu   sync.Mutex
	errs []error
	ops  []string
}

func (e *errLog) add(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ops = append(e.ops, op)
	e.errs = append(e.errs, err)
}

func (e *errLog) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.errs)
}

// instance is one gateway of a test cluster: an engine.Server on
// 127.0.0.1 with a Limiter whose Shared is a Store on the test's Redis,
// serving alice, bob and carol (password secret), of the tenant "acme".
type instance struct {
	addr  string
	l     *ratelimit.Limiter
	store *redisstate.Store
	errs  *errLog
}

// newInstance starts an instance; each feature of o gets the client,
// OnError, a prefix and (when zero) testDeadline.
func newInstance(t *testing.T, client redis.UniversalClient, cfg ratelimit.Config, o redisstate.Options) *instance {
	t.Helper()
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = slog.New(slog.DiscardHandler)
	l.Identity = func(cc engine.ClientContext) (string, string) {
		if u := cc.User(); u != "" {
			return "acme", u
		}
		return "", ""
	}
	l.ResolveLogin = func(_ engine.ClientContext, login string) (string, string) { return "acme", login }
	errs := &errLog{}
	for _, f := range []*redisstate.RedisOptions{&o.Bans, &o.Sessions, &o.Rates} {
		f.Client, f.OnError, f.Prefix = client, errs.add, "test:"
		if f.Deadline == 0 {
			f.Deadline = testDeadline
		}
	}
	st, err := redisstate.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	l.Shared = st
	srv := &engine.Server{Driver: &driver{}, Logger: slog.New(slog.DiscardHandler)}
	l.Install(srv)
	es := enginetest.Start(t, srv)
	return &instance{addr: es.Addr, l: l, store: st, errs: errs}
}

// driver is a MainDriver with the users alice, bob and carol, password secret.
type driver struct{}

func (*driver) GetSettings() (*engine.Settings, error) {
	return &engine.Settings{ConnectionTimeout: 10}, nil
}
func (*driver) ClientConnected(engine.ClientContext) (string, error) { return "ready", nil }
func (*driver) ClientDisconnected(engine.ClientContext)              {}
func (*driver) GetTLSConfig() (*tls.Config, error)                   { return nil, errors.New("no TLS") }
func (*driver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if (user == "alice" || user == "bob" || user == "carol") && pass == "secret" {
		return afero.NewMemMapFs(), nil
	}
	return nil, errors.New("bad credentials")
}

// failLogin tries a wrong password for user on addr from ip with
// jlaffaye/ftp and returns the reply code it got: PASS's, or the
// banner's when the connection was refused.
func failLogin(t *testing.T, addr, ip, user string) int {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithDialer(*enginetest.Dialer(ip)), ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		return replyCode(t, err)
	}
	defer c.Quit()
	return replyCode(t, c.Login(user, "wrong"))
}

// replyCode is the FTP reply code of a jlaffaye/ftp error (0: none).
func replyCode(t *testing.T, err error) int {
	t.Helper()
	var te *textproto.Error
	if err == nil || !errors.As(err, &te) {
		t.Fatalf("want an FTP error reply, got %v", err)
	}
	return te.Code
}

// banner returns the first reply a new connection from ip gets.
func banner(t *testing.T, addr, ip string) int {
	t.Helper()
	c, code, _ := enginetest.Dial(t, addr, ip)
	_ = c.NetConn().Close()
	return code
}

var bg = context.Background()

// testDeadline is the tests' Redis deadline unless the deadline is the
// point: an upper bound on a loaded machine (miniredis compiles every
// script it runs), not the 50ms default.
const testDeadline = 5 * time.Second
