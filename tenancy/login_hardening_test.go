package tenancy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/jlaffaye/ftp"
)

// logRecorder is a slog.Handler that keeps every record, for tests that
// assert what was (not) logged.
type logRecorder struct {
	mu   sync.Mutex
	recs []string // "LEVEL message key=value ..."
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}

// lines returns the records so far.
func (r *logRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.recs...)
}

// stack is a running server built as `ftpgate serve --config` builds it:
// the tenancy driver inside a ratelimit.Limiter, failures counted on the
// resolved account, suspect logins in the small lane of the hash workers.
type stack struct {
	*fixture
	l    *ratelimit.Limiter
	logs *logRecorder
}

// newStack writes files, loads them and serves them limited by rl on
// 127.0.0.1; setup may adjust the driver before it serves.
func newStack(t *testing.T, files map[string]string, rl ratelimit.Config, setup func(*Driver)) *stack {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	for name, content := range files {
		f.writeFile(name, content)
	}
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	logs := &logRecorder{}
	log := slog.New(logs)
	d, err := New(cfg, Options{Logger: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(d)
	}
	l, err := ratelimit.New(rl)
	if err != nil {
		t.Fatal(err)
	}
	l.Logger, l.Identity, l.ResolveLogin = log, Identity, d.ResolveLogin
	d.LoginSuspect = l.Suspect
	f.driver = d
	f.srv = &engine.Server{Driver: d, Logger: log}
	l.Install(f.srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = f.srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
		_ = d.Close()
	})
	return &stack{fixture: f, l: l, logs: logs}
}

// rawFrom connects from ip and reads the banner.
func (s *stack) rawFrom(ip string) *raw {
	s.t.Helper()
	c, code, msg := enginetest.Dial(s.t, s.addr, ip)
	if code != 220 {
		s.t.Fatalf("banner from %s: %d %s", ip, code, msg)
	}
	return &raw{Conn: c, t: s.t}
}

// loginFrom logs in with jlaffaye/ftp from ip.
func (s *stack) loginFrom(ip, user, pass string) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(5*time.Second), ftp.DialWithDialer(*enginetest.Dialer(ip)))
	if err != nil {
		return nil, err
	}
	s.t.Cleanup(func() { _ = c.Quit() })
	return c, c.Login(user, pass)
}

// TestFailuresCountOnTheAccount: failures on bob typed five ways (tenant
// id in capitals, two host names, the default tenant, HOST) from five
// addresses are five failures of one account: the fifth bans its
// address, and bob is refused from a sixth address even with his right
// password, while alice is not.
func TestFailuresCountOnTheAccount(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": strings.Replace(acmeTOML(t, ""), `hostnames = ["ftp.acme.test"]`, `hostnames = ["ftp.acme.test", "acme.test"]`, 1),
	}, ratelimit.Config{LoginFailures: 5, BanTime: conf.Duration(time.Hour), FailedLoginDelay: -1}, nil)

	for i, host := range []string{"", "", "", "", "FTP.ACME.TEST"} {
		login := []string{"bob@ACME", "bob@acme.test", "bob@ftp.acme.test", "bob", "bob"}[i]
		c := s.rawFrom(fmt.Sprintf("127.0.0.%d", 11+i))
		if host != "" {
			if code, msg := c.cmd("HOST %s", host); code != 220 {
				t.Fatalf("HOST %s: %d %s", host, code, msg)
			}
		}
		c.cmd("USER %s", login)
		if code, msg := c.cmd("PASS wrong"); code != 530 {
			t.Fatalf("failure %d as %s: %d %s, want 530", i+1, login, code, msg)
		}
	}
	if _, banned := s.l.Banned(netip.MustParseAddr("127.0.0.15")); !banned {
		t.Error("the address of the fifth failure on bob is not banned")
	}
	_, err := s.loginFrom("127.0.0.20", "bob@acme", "acme-bob")
	if replyCode(err) != 421 || !strings.Contains(err.Error(), "account") {
		t.Fatalf("bob's right password from a fresh address after five failures: %v, want 421", err)
	}
	if _, err := s.loginFrom("127.0.0.21", "alice", "acme-alice"); err != nil {
		t.Fatalf("alice: %v", err)
	}
}

// TestUnicodeSpellingsNameNoTenant: "İnitech" (dotted capital I) and a
// host name with a Kelvin sign do not reach initech, whose id and host
// names match only in ASCII, case aside.
func TestUnicodeSpellingsNameNoTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml": serverTOML(""),
		"tenants/initech.toml": fmt.Sprintf(`
id = "initech"
hostnames = ["kiosk.initech.test"]
[storage]
backend = "memory"
[[users]]
name = "dave"
password = %q
`, testHash(t, "dave-pw")),
	})
	for _, login := range []string{"dave@\u0130nitech", "dave@\u0130NITECH", "dave@\u212Aiosk.initech.test", "dave@initech\u200b"} {
		if _, err := f.login(login, "dave-pw"); replyCode(err) != 530 {
			t.Errorf("login %q: %v, want 530", login, err)
		}
	}
	for _, login := range []string{"dave@initech", "dave@INITECH", "dave@Kiosk.Initech.Test."} {
		c, err := f.login(login, "dave-pw")
		if err != nil {
			t.Errorf("login %q: %v", login, err)
			continue
		}
		_ = c.Quit()
	}
}

// TestRefusedLoginsLookAlike: over a control connection in clear, the right
// and a wrong password of a TLS-only user, of a user outside her allowed
// networks and of a disabled user, an unknown user and an unknown tenant
// all get the same reply after the same wait, through the same delay.
func TestRefusedLoginsLookAlike(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "srv", "srv.test")
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	var waits []time.Duration
	var real func(time.Time)
	s := newStack(t, map[string]string{
		"server.toml": serverTOML(fmt.Sprintf("default = \"mem\"\n[tls]\ncert = %q\nkey = %q\n", dir+"/srv.pem", dir+"/srv.key")),
		"tenants/mem.toml": memoryTenant(t, "") + fmt.Sprintf(`
[[users]]
name = "carol"
password = %q
allowed_cidrs = ["10.0.0.0/8"]
[[users]]
name = "dan"
password = %q
disabled = true
`, testHash(t, "carol-pw"), testHash(t, "dan-pw")),
	}, ratelimit.Config{FailedLoginDelay: -1}, func(d *Driver) {
		// Every attempt starts at the same instant; the wait records
		// its deadline, then waits for real.
		d.now = func() time.Time { return start }
		real = d.wait
		d.waitUntil = func(deadline time.Time) {
			mu.Lock()
			waits = append(waits, deadline.Sub(start))
			mu.Unlock()
			real(time.Now().Add(deadline.Sub(start)))
		}
	})
	delay := s.driver.state.Load().cfg.Server.LoginFailureDelay
	type result struct {
		code    int
		msg     string
		waits   []time.Duration
		elapsed time.Duration
	}
	try := func(user, pass string) result {
		c := s.rawFrom("127.0.0.1")
		c.cmd("USER %s", user)
		mu.Lock()
		waits = nil
		mu.Unlock()
		began := time.Now()
		code, msg := c.cmd("PASS %s", pass)
		el := time.Since(began)
		mu.Lock()
		defer mu.Unlock()
		return result{code, msg, append([]time.Duration(nil), waits...), el}
	}
	ref := try("tom", "wrong")
	if ref.code != 530 || len(ref.waits) != 1 || ref.waits[0] != delay {
		t.Fatalf("tom, wrong password: %d %s, waits %v; want 530 after one wait of %v", ref.code, ref.msg, ref.waits, delay)
	}
	for _, up := range [][2]string{
		{"tom", "tom-pw"}, {"carol", "carol-pw"}, {"carol", "wrong"}, {"dan", "dan-pw"},
		{"nobody", "tom-pw"}, {"tom@nowhere", "tom-pw"}, {"ann", "wrong"},
	} {
		r := try(up[0], up[1])
		if r.code != ref.code || r.msg != ref.msg {
			t.Errorf("%s/%s: %d %q, want %d %q like a wrong password", up[0], up[1], r.code, r.msg, ref.code, ref.msg)
		}
		if len(r.waits) != 1 || r.waits[0] != ref.waits[0] {
			t.Errorf("%s/%s: waits %v, want one of %v like a wrong password", up[0], up[1], r.waits, ref.waits)
		}
		// A lower bound only: the reply never comes before the delay.
		if r.elapsed < delay {
			t.Errorf("%s/%s: answered after %v, before the %v delay", up[0], up[1], r.elapsed, delay)
		}
	}
	if !strings.Contains(ref.msg, "AUTH TLS") {
		t.Errorf("the refusal in clear does not tell that some accounts need TLS: %q", ref.msg)
	}
	// Over TLS tom logs in.
	c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(5*time.Second), ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("tom", "tom-pw"); err != nil {
		t.Fatalf("tom over TLS: %v", err)
	}
}

// TestReloadDisablingSaysWhy: a session whose user a reload disables
// reads a 421 with the reason before the connection closes.
func TestReloadDisablingSaysWhy(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	c := f.dialRaw()
	c.cmd("USER alice@acme")
	if code, msg := c.cmd("PASS acme-alice"); code != 230 {
		t.Fatalf("login: %d %s", code, msg)
	}
	bob := f.mustLogin("bob@acme", "acme-bob")
	f.writeFile("tenants/acme.toml", strings.Replace(acmeTOML(t, ""), `home = "/alice"`, "home = \"/alice\"\ndisabled = true", 1))
	if err := f.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	code, msg := c.read()
	if code != 421 || !strings.Contains(msg, "disabled") {
		t.Fatalf("disabled alice's session read %d %q, want 421 with the reason", code, msg)
	}
	if code, msg := c.read(); code != 0 {
		t.Fatalf("after the 421: %d %s, want the end of the connection", code, msg)
	}
	// Through jlaffaye/ftp, the next command's error carries the 421.
	f.writeFile("tenants/acme.toml", "disabled = true\n"+acmeTOML(t, ""))
	if err := f.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := bob.NoOp(); replyCode(err) != 421 {
		t.Fatalf("bob's session after his tenant's disabling: %v, want 421", err)
	}
}

// TestHostAddressLiteral: HOST with an IP address (what lftp sends when it
// connected by address) is accepted without a log line and chooses no
// tenant, so user@tenant decides; an address a tenant claims as a host
// name chooses that tenant.
func TestHostAddressLiteral(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"server.toml":         serverTOML(""),
		"tenants/acme.toml":   acmeTOML(t, ""),
		"tenants/globex.toml": strings.Replace(globexTOML(t, ""), `hostnames = ["ftp.globex.test"]`, `hostnames = ["ftp.globex.test", "192.0.2.9"]`, 1),
	}, ratelimit.Config{}, nil)
	for _, tc := range []struct{ host, user, pass string }{
		{"127.0.0.1", "alice@acme", "acme-alice"},
		{"[::1]", "alice@globex", "globex-alice"},
		{"192.0.2.9", "alice", "globex-alice"},
	} {
		c := s.rawFrom("127.0.0.1")
		if code, msg := c.cmd("HOST %s", tc.host); code != 220 {
			t.Fatalf("HOST %s: %d %s, want 220", tc.host, code, msg)
		}
		c.cmd("USER %s", tc.user)
		if code, msg := c.cmd("PASS %s", tc.pass); code != 230 {
			t.Fatalf("HOST %s, login %s: %d %s, want 230", tc.host, tc.user, code, msg)
		}
		c.cmd("QUIT")
	}
	for _, line := range s.logs.lines() {
		// Debug lines echo every command; nothing above them may
		// mention HOST, and nothing may warn.
		if strings.HasPrefix(line, "WARN") || strings.HasPrefix(line, "ERROR") ||
			!strings.HasPrefix(line, "DEBUG") && strings.Contains(line, "HOST") {
			t.Errorf("logged: %s", line)
		}
	}
}

// TestSuspectLoginsHaveTheirOwnLane: with the suspect lane's worker busy
// and its queue full, one more login from an address that failed lately
// is refused at once with 421, while a login from a clean address is
// checked and let in; the queued ones are served once the worker frees.
func TestSuspectLoginsHaveTheirOwnLane(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"server.toml":         serverTOML(""),
		"tenants/acme.toml":   acmeTOML(t, ""),
		"tenants/globex.toml": globexTOML(t, ""),
	}, ratelimit.Config{LoginFailures: 100, FailedLoginDelay: -1}, func(d *Driver) {
		d.hashes = newHashPool(2, d.done) // one worker per lane whatever the machine
	})
	pool := s.driver.hashes
	// 127.0.0.2 fails once: its logins are suspect from now on.
	bad := s.rawFrom("127.0.0.2")
	bad.cmd("USER alice@acme")
	if code, msg := bad.cmd("PASS wrong"); code != 530 {
		t.Fatalf("failure: %d %s", code, msg)
	}
	// The suspect lane's worker is busy.
	release, ok := pool.acquire(true)
	if !ok {
		t.Fatal("acquire")
	}
	var once sync.Once
	free := func() { once.Do(release) }
	t.Cleanup(free)
	queued := pool.suspectQueue
	results := make(chan error, queued)
	for range queued {
		go func() {
			c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithDialer(*enginetest.Dialer("127.0.0.2")))
			if err != nil {
				results <- err
				return
			}
			defer c.Quit()
			results <- c.Login("bob@acme", "acme-bob")
		}()
	}
	waitFor(t, "the suspect queue to fill", func() bool { return pool.stats().waitingSuspect == queued })
	_, err := s.loginFrom("127.0.0.2", "alice@globex", "globex-alice")
	if replyCode(err) != 421 {
		t.Fatalf("a suspect login past the queue: %v, want 421 at once", err)
	}
	// A clean login meanwhile: its own lane, not behind the suspect queue.
	clean := make(chan error, 1)
	go func() {
		_, err := s.loginFrom("127.0.0.3", "alice@globex", "globex-alice")
		clean <- err
	}()
	select {
	case err := <-clean:
		if err != nil {
			t.Fatalf("clean login with the suspect lane full: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a clean login waited behind the suspect lane")
	}
	free()
	for range queued {
		if err := <-results; err != nil {
			t.Errorf("queued suspect login: %v", err)
		}
	}
}
