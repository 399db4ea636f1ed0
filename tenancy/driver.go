package tenancy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/tenancy/internal/s3fs"
	"github.com/spf13/afero"
)

// Driver is the multi-tenant engine.MainDriver: it finds each login's
// tenant (HOST, then TLS SNI, then user@tenant, then the default tenant),
// checks the password against the tenant file's hash, and gives the
// session the user's home in the tenant's storage, guarded by the user's
// rights and the tenant's quota. Reload swaps in a new configuration
// without dropping sessions. Make one with New.
type Driver struct {
	// Settings are returned by GetSettings; New fills them from the server
	// file, and a program may adjust them (a Listener, say) before
	// serving.
	Settings *engine.Settings
	// Logger receives login and reload events; never passwords or hashes.
	Logger *slog.Logger
	// LoginSuspect, when set, says whether a login of tenant's user on cc
	// is suspect (ratelimit.Limiter.Suspect: its address or account
	// failed lately); suspect logins have their passwords checked in the
	// smaller lane of the hash workers (see hashPool). tenant and user are
	// what ResolveLogin returns. Nil: every login is clean. Set it before
	// serving.
	LoginSuspect func(cc engine.ClientContext, tenant, user string) bool

	defaultCert *tls.Certificate
	state       atomic.Pointer[state]
	cache       atomic.Pointer[credCache]
	dummyHash   string
	reloadMu    sync.Mutex
	// hashes bounds the password checks running at once: each argon2id
	// check holds its memory cost (19 MiB by default), so a flood of
	// logins must queue rather than exhaust memory; and it keeps a share
	// of its workers for logins that are not suspect.
	hashes *hashPool
	// now and waitUntil are the clock and the wait of a refused login:
	// time.Now and Driver.wait, replaced by tests.
	now       func() time.Time
	waitUntil func(deadline time.Time)

	mu       sync.Mutex
	sessions map[uint32]*session

	// counter runs the tenants' usage counts in the background.
	counter *counter
	// quota is the cluster's shared usage (ShareQuota); nil: each
	// instance counts its own.
	quota atomic.Pointer[sharedQuota]

	done      chan struct{}
	closeOnce sync.Once
}

// Options are New's optional inputs.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// DefaultCertificate is used when the server file names no
	// certificate; nil then means no TLS.
	DefaultCertificate *tls.Certificate
}

// credential cache bounds: enough for every active user of a large
// installation, small enough (about 100 bytes an entry) to ignore.
const (
	credCacheSize = 16384
	credCacheTTL  = 10 * time.Minute
)

// errLoginIncorrect is the one reply to every refused login: an unknown
// tenant or user, a wrong password, a disabled account, a user refused
// for the network it comes from or for not using TLS, tenant choices
// that disagree. None can be told from another, nor a right password
// from a wrong one. Over a control connection in clear, when the server
// offers TLS, the reply says that some accounts need it
// (errLoginIncorrectClear): that depends on the connection only.
var (
	errLoginIncorrect      = &engine.ReplyError{Code: 530, Message: "Login incorrect."}
	errLoginIncorrectClear = &engine.ReplyError{Code: 530, Message: "Login incorrect. Accounts that require TLS must send AUTH TLS before logging in."}
)

// errLoginsBusy refuses a suspect login when the suspect lane's queue is
// full (and any login while the driver closes). It is decided before any
// password is looked at; 421 closes the session, and tells the rate
// limiter that the credentials were not judged.
var errLoginsBusy = &engine.ReplyError{Code: 421, Message: "Too many logins are being checked; try again later."}

// New opens the storage of every tenant of cfg and returns the driver.
func New(cfg *Config, opts Options) (*Driver, error) {
	d := &Driver{
		Settings:    cfg.Server.EngineSettings(),
		Logger:      opts.Logger,
		defaultCert: opts.DefaultCertificate,
		sessions:    map[uint32]*session{},
		done:        make(chan struct{}),
		now:         time.Now,
	}
	d.waitUntil = d.wait
	d.hashes = newHashPool(runtime.NumCPU(), d.done)
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	st, err := buildState(cfg, nil, d.defaultCert, d.Logger)
	if err != nil {
		return nil, err
	}
	d.counter = newCounter(d.Logger)
	startCounts(st, d.counter)
	awaitCounts(st, startCountGrace)
	// Unknown users are checked against this hash of a random password,
	// so that they cost what a known user costs.
	d.dummyHash, err = HashPasswordArgon2id(randomString(), DefaultArgon2Params())
	if err != nil {
		return nil, err
	}
	d.state.Store(st)
	d.cache.Store(newCredCache(credCacheSize, credCacheTTL))
	return d, nil
}

// Reload swaps in cfg: new logins see it at once, and live sessions of a
// user or tenant that cfg disables or removes are closed. Other sessions
// go on with the rights they logged in with. On error the old
// configuration stays.
func (d *Driver) Reload(cfg *Config) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.state.Load()
	st, err := buildState(cfg, old, d.defaultCert, d.Logger)
	if err != nil {
		return err
	}
	startCounts(st, d.counter)
	d.state.Store(st)
	d.cache.Store(newCredCache(credCacheSize, credCacheTTL))
	closeUnused(old, st)
	d.closeRevoked(st)
	d.Logger.Info("tenancy: configuration reloaded", "file", cfg.File, "tenants", len(cfg.Tenants))
	return nil
}

// Close ends pending login delays and closes the tenants' storage. The
// server should be stopped first.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	if d.counter != nil {
		d.counter.close()
	}
	if st := d.state.Load(); st != nil {
		for _, s := range st.storages {
			s.close()
		}
	}
	return nil
}

// GetSettings returns d.Settings.
func (d *Driver) GetSettings() (*engine.Settings, error) { return d.Settings, nil }

// ClientConnected starts tracking the session.
func (d *Driver) ClientConnected(cc engine.ClientContext) (string, error) {
	s := &session{cc: cc}
	cc.SetExtra(s)
	d.mu.Lock()
	d.sessions[cc.ID()] = s
	d.mu.Unlock()
	return "ftpgate ready", nil
}

// ClientDisconnected stops tracking the session and closes its home.
func (d *Driver) ClientDisconnected(cc engine.ClientContext) {
	d.mu.Lock()
	s := d.sessions[cc.ID()]
	delete(d.sessions, cc.ID())
	d.mu.Unlock()
	if s != nil {
		s.release()
	}
}

// GetTLSConfig returns the server certificate's configuration; a client
// whose SNI names a tenant host with its own certificate gets that one.
func (d *Driver) GetTLSConfig() (*tls.Config, error) {
	st := d.state.Load()
	if st.tls == nil {
		return nil, nil
	}
	cfg := st.tls.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cur := d.state.Load()
		if name, ok := asciiLower(hello.ServerName); ok {
			if c := cur.hostTLS[name]; c != nil {
				return c, nil
			}
		}
		return nil, nil
	}
	return cfg, nil
}

// CheckHost accepts a HOST naming a served tenant (RFC 7151), unless the
// TLS server name already chose another one. An IP address literal that
// no tenant claims is accepted too and chooses no tenant: RFC 7151 lets a
// client that knows no name send the address it connected to (lftp
// does), which is no reason to refuse or to log.
func (d *Driver) CheckHost(cc engine.ClientContext, host string) error {
	st := d.state.Load()
	t := st.lookupHost(host)
	if t == nil && isAddressLiteral(host) {
		return nil
	}
	if t == nil || t.cfg.Disabled {
		return &engine.ReplyError{Code: 504, Message: "Unknown host " + host + "."}
	}
	if sni := cc.TLSServerName(); sni != "" {
		if ts := st.lookup(sni); ts != nil && ts != t {
			return &engine.ReplyError{Code: 504, Message: "HOST " + host + " does not match the TLS server name " + sni + "."}
		}
	}
	return nil
}

// isAddressLiteral reports whether a HOST argument is an IP address, an
// IPv6 one in brackets.
func isAddressLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// ResolveLogin names the account a USER argument means on cc, as AuthUser
// resolves it, without looking at any password: the tenant id and the
// user name as the tenant file spells it. A login that names no tenant,
// or tenants that disagree, comes back as ("", login). The rate limiter
// counts failures on what it returns (ratelimit.Limiter.ResolveLogin), so
// that every spelling of an account ("bob@ACME", "bob@ftp.acme.test",
// "bob" under HOST or a default tenant) shares one count.
func (d *Driver) ResolveLogin(cc engine.ClientContext, login string) (tenant, user string) {
	t, name, err := resolveTenant(d.state.Load(), cc, login)
	return accountOf(t, name, err, login)
}

// accountOf is ResolveLogin's answer for one resolution.
func accountOf(t *tenant, name string, err error, login string) (tenant, user string) {
	if err != nil || t == nil {
		return "", login
	}
	return t.cfg.ID, name
}

// AuthUser logs a user in. Every refusal gets the same reply
// (errLoginIncorrect) through the same wait, until LoginFailureDelay has
// passed since the attempt began. A refusal that does not depend on the
// password (unknown tenant or user, disabled account, wrong network,
// TLS required) is decided before the password is looked at, which is
// then checked against a dummy hash only: so it costs what a wrong
// password costs, and neither its reply nor its timing can depend on
// whether the password was right.
func (d *Driver) AuthUser(cc engine.ClientContext, login, pass string) (engine.ClientDriver, error) {
	start := d.now()
	st := d.state.Load()
	deadline := start.Add(st.cfg.Server.LoginFailureDelay)
	t, name, rerr := resolveTenant(st, cc, login)
	tid, user := accountOf(t, name, rerr, login)
	var u *UserConfig
	reason := ""
	switch {
	case rerr != nil:
		reason = rerr.Error()
	case t == nil:
		reason = "no tenant"
	case t.cfg.Disabled:
		reason = "tenant disabled"
	default:
		u = t.users[name]
		switch {
		case u == nil:
			reason = "unknown user"
		case u.Disabled:
			reason = "user disabled"
		case !addrAllowed(u.AllowedCIDRs, cc.RemoteAddr()):
			reason = "address outside the user's allowed_cidrs"
		case (u.TLSRequired || st.cfg.Server.TLSRequired) && !cc.HasTLSForControl():
			reason = "the account requires TLS"
		}
	}
	suspect := d.LoginSuspect != nil && d.LoginSuspect(cc, tid, user)
	if reason != "" {
		if _, ok := d.slowVerify(d.dummyHash, pass, suspect); !ok {
			return nil, d.busy(cc, tid, user)
		}
		return nil, d.refuse(cc, st, deadline, tid, user, reason)
	}
	ok, checked := d.verify(t.cfg.ID, u, pass, start, suspect)
	if !checked {
		return nil, d.busy(cc, tid, user)
	}
	if !ok {
		return nil, d.refuse(cc, st, deadline, tid, user, "wrong password")
	}
	fs, reason := d.startSession(cc, st, t, u)
	if reason != "" {
		return nil, d.refuse(cc, st, deadline, tid, user, reason)
	}
	return fs, nil
}

// startSession opens the home of t's user u for cc and records the login
// (for reloads and the policy's tenant paths); reason says why it could
// not. st is the state the login was checked against.
func (d *Driver) startSession(cc engine.ClientContext, st *state, t *tenant, u *UserConfig) (engine.ClientDriver, string) {
	name := u.Name
	fs, root, err := openHome(t, u, cc, d.quota.Load())
	if err != nil {
		d.Logger.Warn("tenancy: cannot open home", "tenant", t.cfg.ID, "user", name, "err", err)
		return nil, "home directory unavailable"
	}
	d.mu.Lock()
	s := d.sessions[cc.ID()]
	d.mu.Unlock()
	if s == nil {
		// A session the driver did not see connect (a test calling
		// AuthUser directly); it is still tracked for reloads.
		s = &session{cc: cc}
		cc.SetExtra(s)
		d.mu.Lock()
		d.sessions[cc.ID()] = s
		d.mu.Unlock()
	}
	if g, ok := fs.(*guardFs); ok {
		s.setGuard(g)
	}
	s.login(t.cfg.ID, name, root)
	// A reload that swapped the state while this login was being checked
	// may have disabled the account; closeRevoked has either seen this
	// session as logged in, or the new state is visible here.
	if cur := d.state.Load(); cur != st && revoked(cur, t.cfg.ID, name) {
		s.logout()
		return nil, "disabled during login"
	}
	d.Logger.Info("tenancy: logged in", loginAttrs(cc, t.cfg.ID, name, "ok")...)
	return fs, ""
}

// loginAttrs are the attributes of the one line a login attempt logs:
// the session, the client's address (behind a balancer the one its PROXY
// header named) and the balancer's, the tenant and account the login
// resolved to, the name as typed, and the result ("ok" or "failed"). The
// engine logs its own login lines at debug level only, so that a login is
// one line with all of this.
func loginAttrs(cc engine.ClientContext, tenant, user, result string) []any {
	remote := ""
	if a := cc.RemoteAddr(); a != nil {
		remote = a.String()
	}
	attrs := []any{"session", cc.ID(), "remote", remote}
	if p := engine.ProxyInfoOf(cc); p != nil && p.Balancer != nil {
		attrs = append(attrs, "balancer", p.Balancer.String())
	}
	return append(attrs, "tenant", tenant, "user", user, "login", cc.User(), "result", result)
}

// refuse logs why a login was refused, waits until deadline and returns
// the one reply every refused login gets.
func (d *Driver) refuse(cc engine.ClientContext, st *state, deadline time.Time, tenant, user, reason string) error {
	d.Logger.Info("tenancy: login failed", append(loginAttrs(cc, tenant, user, "failed"), "reason", reason)...)
	d.waitUntil(deadline)
	if st.tls != nil && !cc.HasTLSForControl() {
		return errLoginIncorrectClear
	}
	return errLoginIncorrect
}

// busy logs and returns the refusal of a login whose password could not
// be checked now.
func (d *Driver) busy(cc engine.ClientContext, tenant, user string) error {
	d.Logger.Info("tenancy: login refused: too many suspect logins waiting for a password check",
		append(loginAttrs(cc, tenant, user, "failed"), "reason", "busy")...)
	return errLoginsBusy
}

// verify checks a password, through the credential cache. checked is
// false when the check could not be made (see slowVerify).
func (d *Driver) verify(tenantID string, u *UserConfig, pass string, now time.Time, suspect bool) (ok, checked bool) {
	cache := d.cache.Load()
	id := cache.id(tenantID, u.Name, u.PasswordHash, pass)
	if cache.has(id, now) {
		return true, true
	}
	ok, checked = d.slowVerify(u.PasswordHash, pass, suspect)
	if ok {
		cache.add(id, now)
	}
	return ok, checked
}

// slowVerify checks a password against a hash on one of the hash workers,
// in the lane suspect says. checked is false, and nothing was checked,
// when the suspect lane's queue is full or the driver is closing.
func (d *Driver) slowVerify(hash, pass string, suspect bool) (ok, checked bool) {
	release, ok := d.hashes.acquire(suspect)
	if !ok {
		return false, false
	}
	defer release()
	return verifyPassword(hash, pass), true
}

// wait sleeps until deadline, or until the driver is closed. It holds no
// lock, so a failed login delays only its own session.
func (d *Driver) wait(deadline time.Time) {
	delay := time.Until(deadline)
	if delay <= 0 {
		return
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.done:
	}
}

// Why resolveTenant refuses a login whose tenant choices disagree; only
// logged: the client gets errLoginIncorrect like every refused login, so
// that the reply does not confirm which tenants exist.
var (
	errTenantMismatch  = errors.New("the tenant in the login does not match the one chosen by HOST or TLS")
	errHostSNIMismatch = errors.New("HOST and the TLS server name choose different tenants")
	errHostGone        = errors.New("the host chosen with HOST is no longer served")
)

// resolveTenant finds a login's tenant and user name: HOST first, then the
// TLS server name, then a user@tenant login, then the default tenant. A
// nil tenant with no error means none applies (a failed login). A HOST
// that was an address literal no tenant claims chooses nothing.
func resolveTenant(st *state, cc engine.ClientContext, login string) (*tenant, string, error) {
	var chosen *tenant
	if h := cc.HostName(); h != "" {
		if chosen = st.lookupHost(h); chosen == nil && !isAddressLiteral(h) {
			return nil, "", errHostGone
		}
	}
	if sni := cc.TLSServerName(); sni != "" {
		if ts := st.lookup(sni); ts != nil {
			if chosen != nil && chosen != ts {
				return nil, "", errHostSNIMismatch
			}
			chosen = ts
		}
	}
	name := login
	if u, tn, ok := SplitLogin(login); ok {
		if at := st.lookup(tn); at != nil {
			if chosen != nil && chosen != at {
				return nil, "", errTenantMismatch
			}
			chosen, name = at, u
		}
	}
	if chosen == nil && st.cfg.Server.DefaultTenant != "" {
		chosen = st.tenants[st.cfg.Server.DefaultTenant]
	}
	return chosen, name, nil
}

// addrAllowed reports whether addr lies in one of nets (none: any).
func addrAllowed(nets []netip.Prefix, addr net.Addr) bool {
	if len(nets) == 0 {
		return true
	}
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// openHome returns the session's filesystem: the user's home, created when
// missing, behind the guard. For the os backend the home is opened as an
// os.Root of its own, so the kernel also keeps links from leaving it; that
// root is returned to be closed when the session ends. sq, when set, is
// the cluster's shared usage for a tenant with a quota.
func openHome(t *tenant, u *UserConfig, cc engine.ClientContext, sq *sharedQuota) (engine.ClientDriver, io.Closer, error) {
	st := t.storage
	var inner afero.Fs
	var root *rootFs
	mkHome := func(st *storage, home string) error {
		made, err := makeHome(st, home)
		if made > 0 && sq != nil && t.cfg.QuotaFiles > 0 {
			// The shared count of a files quota counts the home too
			// (beyond the quota, as here).
			_ = sq.store.Add(context.Background(), t.cfg.ID, 0, made)
		}
		return err
	}
	switch st.backend {
	case BackendOS:
		tree := &rootFs{root: st.root}
		if u.Home != "/" {
			if err := mkHome(st, u.Home); err != nil {
				return nil, nil, err
			}
		}
		r, err := tree.openRoot(u.Home)
		if err != nil {
			return nil, nil, err
		}
		root = &rootFs{root: r, keepDot: true}
		inner = root
	case BackendS3:
		if u.Home != "/" {
			if err := mkHome(st, u.Home); err != nil {
				return nil, nil, err
			}
		}
		sub, err := st.fs.(*s3fs.Fs).Sub(u.Home)
		if err != nil {
			return nil, nil, err
		}
		inner = sub
	default:
		if u.Home != "/" {
			if err := mkHome(st, u.Home); err != nil {
				return nil, nil, err
			}
			inner = afero.NewBasePathFs(st.fs, u.Home)
		} else {
			inner = st.fs
		}
	}
	g := &guardFs{
		inner:    inner,
		rules:    u.Permissions,
		readOnly: t.cfg.Storage.ReadOnly,
		u:        st.usage,
		maxBytes: t.cfg.QuotaBytes,
		maxFiles: t.cfg.QuotaFiles,
		tenant:   t.cfg.ID,

		home:      u.Home,
		maxDepth:  t.cfg.Storage.MaxPathDepth,
		maxLength: t.cfg.Storage.MaxPathLength,
	}
	if sq != nil && (g.maxBytes > 0 || g.maxFiles > 0) {
		g.shared, g.step, g.kick = sq.store, sq.step, sq.countNow
	}
	if u.TLSRequired {
		g.needTLS = func() bool { return !cc.HasTLSForTransfers() }
	}
	if root != nil {
		g.free = func(dir string) (int64, error) {
			f, err := inner.Open(dir)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			osf, ok := f.(*os.File)
			if !ok {
				return 0, errors.ErrUnsupported
			}
			return FreeSpace(osf)
		}
	}
	if root == nil {
		return g, nil, nil // not a nil *rootFs in an io.Closer
	}
	return g, root, nil
}

// revoked reports whether st disables or lacks the tenant or the user.
func revoked(st *state, tenantID, user string) bool {
	t := st.tenants[tenantID]
	if t == nil || t.cfg.Disabled {
		return true
	}
	u := t.users[user]
	return u == nil || u.Disabled
}

// closeRevoked closes the sessions whose user or tenant st disables or no
// longer has.
func (d *Driver) closeRevoked(st *state) {
	d.mu.Lock()
	var victims []*session
	for _, s := range d.sessions {
		// The driver's own flag, not cc.LoggedIn: the engine sets that
		// only after AuthUser returns.
		if tid, user, ok := s.info(); ok && revoked(st, tid, user) {
			victims = append(victims, s)
		}
	}
	d.mu.Unlock()
	for _, s := range victims {
		tid, user, _ := s.info()
		d.Logger.Info("tenancy: closing a session of a disabled or removed account", "session", s.cc.ID(), "tenant", tid, "user", user)
		// The client reads why before the connection closes.
		var err error
		if rc, ok := s.cc.(engine.ReplyCloser); ok {
			err = rc.CloseWithReply(421, "Your account has been disabled or removed; closing control connection.")
		} else {
			err = s.cc.Close()
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			d.Logger.Warn("tenancy: closing session", "session", s.cc.ID(), "err", err)
		}
	}
}

// The engine interfaces the driver and its filesystems implement.
var (
	_ engine.MainDriver                          = (*Driver)(nil)
	_ engine.MainDriverExtensionHost             = (*Driver)(nil)
	_ engine.ClientDriverExtensionSymlink        = (*guardFs)(nil)
	_ engine.ClientDriverExtensionAvailableSpace = (*guardFs)(nil)
	_ engine.ClientDriverExtensionRemoveCheck    = (*guardFs)(nil)
)
