package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"
)

// authCountDriver counts the driver's AuthUser calls.
type authCountDriver struct {
	*testDriver
	auths atomic.Int32
}

func (d *authCountDriver) AuthUser(cc ClientContext, user, pass string) (ClientDriver, error) {
	d.auths.Add(1)
	return d.testDriver.AuthUser(cc, user, pass)
}

// withAuthCount installs an authCountDriver and returns it through *out.
func withAuthCount(out **authCountDriver) serverOption {
	return func(d *testDriver, srv *Server) {
		*out = &authCountDriver{testDriver: d}
		srv.Driver = *out
	}
}

// loginOutcome is what a login hook saw of one attempt.
type loginOutcome struct {
	user   string
	method LoginMethod
	fs     ClientDriver
	err    error
}

// loginRecorder is a LoginHook that records every attempt's outcome, and
// a release per attempt whose calls it counts.
type loginRecorder struct {
	outcomes chan loginOutcome
	releases atomic.Int32
	released chan struct{} // a value per release call
}

func newLoginRecorder() *loginRecorder {
	return &loginRecorder{outcomes: make(chan loginOutcome, 10), released: make(chan struct{}, 10)}
}

func (r *loginRecorder) hook(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
	l.OnEnd(func() {
		r.releases.Add(1)
		r.released <- struct{}{}
	})
	fs, err := next(ctx, l)
	r.outcomes <- loginOutcome{user: l.User, method: l.Method, fs: fs, err: err}
	return fs, err
}

func TestLoginHookRefusesBeforeAuthUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		closes bool
	}{
		{"530 keeps the session", Refuse(530, "Too many failures for this user."), 530, false},
		{"421 closes the session", Refuse(421, "Your address is banned."), 421, true},
		{"a plain error is 530", errors.New("no"), 530, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d *authCountDriver
			var released atomic.Int32
			var seen atomic.Value
			refuse := func(_ context.Context, l *Login, _ LoginFunc) (ClientDriver, error) {
				seen.Store(l.User)
				l.OnEnd(func() { released.Add(1) })
				return nil, tc.err
			}
			ts := newTestServer(t, withAuthCount(&d), onServer(func(srv *Server) {
				srv.LoginHooks = []LoginHook{refuse}
			}))
			c := ts.dial(t)
			c.expect("USER Test@Tenant", 331)
			c.send("PASS test")
			if tc.closes {
				c.expectReplyThenClose(tc.code)
			} else {
				c.expectRead(tc.code)
				c.expect("PWD", 530) // not logged in
			}
			if n := d.auths.Load(); n != 0 {
				t.Fatalf("AuthUser ran %d times behind a refusing hook", n)
			}
			if got := seen.Load(); got != "Test@Tenant" {
				t.Fatalf("the hook saw user %q, want the name as typed", got)
			}
			// A refused attempt is over before its reply is sent.
			if n := released.Load(); n != 1 {
				t.Fatalf("release ran %d times for a refused attempt, want 1", n)
			}
		})
	}
}

func TestLoginHookLearnsTheOutcome(t *testing.T) {
	t.Parallel()
	rec := newLoginRecorder()
	ts := newTestServer(t, onServer(func(srv *Server) { srv.LoginHooks = []LoginHook{rec.hook} }))

	c := ts.dial(t)
	c.expect("USER test", 331)
	c.expect("PASS wrong", 530)
	failed := recv(t, rec.outcomes, "the failed attempt")
	if failed.err == nil || failed.fs != nil || failed.user != "test" || failed.method != LoginPassword {
		t.Fatalf("failed attempt seen as %+v", failed)
	}
	recv(t, rec.released, "the failed attempt's release")

	// jlaffaye's client logs in on a session of its own.
	client, err := ftp.Dial(ts.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Quit() }()
	if err := client.Login("test", "test"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	ok := recv(t, rec.outcomes, "the successful attempt")
	if ok.err != nil || ok.fs != ts.driver.fs {
		t.Fatalf("successful attempt seen as %+v, want the driver's filesystem", ok)
	}
	if n := rec.releases.Load(); n != 1 {
		t.Fatalf("a logged-in session's release ran (%d calls in all, want 1)", n)
	}
}

func TestLoginHooksOrderAndLateRefusal(t *testing.T) {
	t.Parallel()
	order := &callOrder{}
	var innerReleased atomic.Int32
	ended := make(chan struct{}, 4) // a release per login: two here
	full := atomic.Bool{}
	outer := func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
		order.add("outer")
		fs, err := next(ctx, l)
		order.add("outer-after")
		if err == nil && full.Load() {
			return nil, Refuse(421, "Too many sessions for this user.")
		}
		return fs, err
	}
	inner := func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
		order.add("inner")
		l.OnEnd(func() {
			innerReleased.Add(1)
			ended <- struct{}{}
		})
		fs, err := next(ctx, l)
		order.add("inner-after")
		return fs, err
	}
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.LoginHooks = []LoginHook{outer, inner}
		d := srv.Driver.(*testDriver)
		srv.Driver = &orderDriver{testDriver: d, order: order}
	}))
	c := ts.login(t)
	if got := order.String(); got != "outer,inner,driver,inner-after,outer-after" {
		t.Fatalf("call order %s", got)
	}
	c.expect("QUIT", 221)
	// The first session's release runs as that session ends, after its
	// 221: wait for it, so that it is not counted as the refused login's.
	recv(t, ended, "the first session's release")

	// The outer hook refuses a login the driver accepted: the inner
	// hook's release runs at once, and the session is not logged in.
	full.Store(true)
	before := innerReleased.Load()
	c = ts.dial(t)
	c.expect("USER test", 331)
	c.send("PASS test")
	c.expectReplyThenClose(421)
	if n := innerReleased.Load() - before; n != 1 {
		t.Fatalf("the inner hook's release ran %d times for a refused login, want 1", n)
	}
}

// orderDriver records AuthUser in a callOrder.
type orderDriver struct {
	*testDriver
	order *callOrder
}

func (d *orderDriver) AuthUser(cc ClientContext, user, pass string) (ClientDriver, error) {
	d.order.add("driver")
	return d.testDriver.AuthUser(cc, user, pass)
}

func TestLoginHookReleaseOnceWhenTheLoginEnds(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"QUIT", "REIN", "drop", "Shutdown", "Close"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			rec := newLoginRecorder()
			sessionDone := make(chan struct{}, 10)
			ts := newTestServer(t, onServer(func(srv *Server) {
				srv.LoginHooks = []LoginHook{rec.hook}
				// The admission hook's done runs after the login's
				// release, when nothing of the session is left to run.
				srv.AdmissionHooks = []AdmissionHook{func(context.Context, ClientContext) (func(), error) {
					return func() { sessionDone <- struct{}{} }, nil
				}}
			}))
			c := ts.login(t)
			recv(t, rec.outcomes, "the login")
			if n := rec.releases.Load(); n != 0 {
				t.Fatalf("release ran %d times while logged in", n)
			}
			switch end {
			case "QUIT":
				c.expect("QUIT", 221)
			case "REIN":
				// The release has run when REIN's reply comes.
				c.expect("REIN", 220)
				if n := rec.releases.Load(); n != 1 {
					t.Fatalf("release ran %d times by REIN's reply, want 1", n)
				}
				c.expect("PWD", 530)
				c.expect("QUIT", 221)
			case "drop":
				_ = c.conn.Close()
			case "Shutdown":
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				if err := ts.srv.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				c.expectReplyThenClose(421)
			case "Close":
				_ = ts.srv.Close()
			}
			recv(t, rec.released, "the release")
			recv(t, sessionDone, "the end of the session")
			if n := rec.releases.Load(); n != 1 {
				t.Fatalf("release ran %d times, want exactly 1", n)
			}
		})
	}
}

func TestLoginHookSeesWhatTheDriverResolved(t *testing.T) {
	t.Parallel()
	account := NewSessionKey[string]("account")
	resolved := make(chan string, 1)
	hook := func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
		if _, ok := account.Get(l.Session); ok {
			return nil, errors.New("the account is set before the driver ran")
		}
		fs, err := next(ctx, l)
		a, _ := account.Get(l.Session)
		resolved <- a
		return fs, err
	}
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.LoginHooks = []LoginHook{hook}
		srv.Driver = &accountDriver{testDriver: srv.Driver.(*testDriver), key: account}
	}))
	c := ts.dial(t)
	c.expect("USER test@acme", 331)
	c.expect("PASS test", 230)
	if got := recv(t, resolved, "the hook's view"); got != "acme/test" {
		t.Fatalf("the hook saw account %q, want acme/test", got)
	}
}

// accountDriver logs in user@tenant as user and tells the session the
// account it resolved, as tenancy does.
type accountDriver struct {
	*testDriver
	key *SessionKey[string]
}

func (d *accountDriver) AuthUser(cc ClientContext, login, pass string) (ClientDriver, error) {
	user, tenant, _ := cutLast(login, "@")
	fs, err := d.testDriver.AuthUser(cc, user, pass)
	if err == nil {
		d.key.Set(cc, tenant+"/"+user)
	}
	return fs, err
}

// cutLast splits s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func TestLoginHookMayReplaceTheFilesystem(t *testing.T) {
	t.Parallel()
	readOnly := func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
		fs, err := next(ctx, l)
		if err != nil {
			return nil, err
		}
		return afero.NewReadOnlyFs(fs), nil
	}
	ts := newTestServer(t, onServer(func(srv *Server) { srv.LoginHooks = []LoginHook{readOnly} }))
	writeFile(t, ts.driver.fs, "/f", []byte("kept"))
	c := ts.login(t)
	if got := c.retr("f"); string(got) != "kept" {
		t.Fatalf("RETR got %q", got)
	}
	c.expect("DELE f", 550)
	expectFile(t, ts.driver.fs, "/f", []byte("kept"))
}

func TestLoginHookAroundCertificateLogin(t *testing.T) {
	t.Parallel()
	rec := newLoginRecorder()
	var verifies atomic.Int32
	banned := atomic.Bool{}
	ban := func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
		if banned.Load() {
			return nil, Refuse(421, "Banned.")
		}
		return next(ctx, l)
	}
	ts := newTestServer(t, withTLS(), func(d *testDriver, srv *Server) {
		d.tlsConfig.ClientAuth = tls.RequestClientCert
		srv.Driver = &countingCertDriver{certDriver: certDriver{testDriver: d}, n: &verifies}
		srv.LoginHooks = []LoginHook{ban, rec.hook}
	})
	dialTLS := func(cert string) *rawClient {
		c := ts.dial(t)
		c.expect("AUTH TLS", 234)
		cfg := clientTLS(tls.VersionTLS13)
		if cert != "" {
			cfg.Certificates = []tls.Certificate{clientCertificate(t, cert)}
		}
		tconn := tls.Client(c.conn, cfg)
		if err := tconn.Handshake(); err != nil {
			t.Fatal(err)
		}
		c.conn, c.r = tconn, bufio.NewReader(tconn)
		return c
	}

	c := dialTLS("test")
	c.expect("USER test", 232)
	got := recv(t, rec.outcomes, "the certificate login")
	if got.method != LoginCertificate || got.err != nil || got.fs == nil {
		t.Fatalf("certificate login seen as %+v", got)
	}
	c.expect("QUIT", 221)
	recv(t, rec.released, "the certificate login's release")

	// Without a certificate the driver asks for a password: the
	// certificate attempt ends undecided, and PASS is an attempt of its own.
	c = dialTLS("")
	c.expect("USER test", 331)
	undecided := recv(t, rec.outcomes, "the undecided certificate attempt")
	if undecided.method != LoginCertificate || undecided.err != nil || undecided.fs != nil {
		t.Fatalf("undecided attempt seen as %+v", undecided)
	}
	recv(t, rec.released, "the undecided attempt's release")
	c.expect("PASS test", 230)
	if got := recv(t, rec.outcomes, "the password login"); got.method != LoginPassword || got.fs == nil {
		t.Fatalf("password login seen as %+v", got)
	}

	// A hook refuses at USER, before the driver sees the certificate.
	banned.Store(true)
	before := verifies.Load()
	c = dialTLS("test")
	c.send("USER test")
	c.expectReplyThenClose(421)
	if n := verifies.Load() - before; n != 0 {
		t.Fatalf("VerifyTLSClient ran %d times behind a refusing hook", n)
	}
}

// countingCertDriver counts VerifyTLSClient calls.
type countingCertDriver struct {
	certDriver
	n *atomic.Int32
}

func (d *countingCertDriver) VerifyTLSClient(cc ClientContext, user string, state tls.ConnectionState) (ClientDriver, error) {
	d.n.Add(1)
	return d.certDriver.VerifyTLSClient(cc, user, state)
}

func TestLoginOnEndAfterTheEndRunsAtOnce(t *testing.T) {
	t.Parallel()
	l := &Login{}
	var calls []string
	l.OnEnd(func() { calls = append(calls, "first") })
	l.OnEnd(func() { calls = append(calls, "second") })
	l.OnEnd(nil)
	l.end()
	l.end()
	l.OnEnd(func() { calls = append(calls, "late") })
	if got := len(calls); got != 3 || calls[0] != "second" || calls[1] != "first" || calls[2] != "late" {
		t.Fatalf("calls %v, want second, first (last registered first), then late", calls)
	}
}

// TestLoginHooksUnderConcurrentLogins checks with -race that parallel
// sessions' logins, hooks and releases share no unguarded state.
func TestLoginHooksUnderConcurrentLogins(t *testing.T) {
	t.Parallel()
	var active, peak atomic.Int32
	slots := func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
		fs, err := next(ctx, l)
		if err == nil {
			n := active.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			l.OnEnd(func() { active.Add(-1) })
		}
		return fs, err
	}
	done := make(chan struct{}, 16)
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.LoginHooks = []LoginHook{slots}
		srv.AdmissionHooks = []AdmissionHook{func(context.Context, ClientContext) (func(), error) {
			return func() { done <- struct{}{} }, nil
		}}
	}))
	// The sessions' steps interleave, so that logins, REINs and ends of
	// different sessions run in different goroutines side by side.
	const sessions = 8
	clients := make([]*rawClient, sessions)
	for i := range clients {
		clients[i] = ts.login(t)
	}
	for _, c := range clients {
		c.send("REIN")
	}
	for _, c := range clients {
		c.expectRead(220)
		c.send("USER test")
	}
	for _, c := range clients {
		c.expectRead(331)
		c.send("PASS test")
	}
	for _, c := range clients {
		c.expectRead(230)
		c.send("QUIT")
	}
	for _, c := range clients {
		c.expectRead(221)
	}
	for range sessions {
		recv(t, done, "a session's end")
	}
	if n := active.Load(); n != 0 {
		t.Fatalf("%d session slots still taken after every session ended", n)
	}
	if peak.Load() == 0 {
		t.Fatal("no login took a slot")
	}
}
