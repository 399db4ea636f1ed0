package tenancy

import (
	"crypto/tls"
	"errors"
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

	defaultCert *tls.Certificate
	state       atomic.Pointer[state]
	cache       atomic.Pointer[credCache]
	dummyHash   string
	reloadMu    sync.Mutex
	// hashSlots bounds the password checks running at once: each argon2id
	// check holds its memory cost (19 MiB by default), so a flood of
	// logins must queue rather than exhaust memory.
	hashSlots chan struct{}

	mu       sync.Mutex
	sessions map[uint32]*session

	// counter runs the tenants' usage counts in the background.
	counter *counter

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

// errLoginIncorrect is the one reply to an unknown tenant, an unknown user,
// a wrong password and a disabled account, so that none can be told from
// another.
var errLoginIncorrect = &engine.ReplyError{Code: 530, Message: "Login incorrect."}

// New opens the storage of every tenant of cfg and returns the driver.
func New(cfg *Config, opts Options) (*Driver, error) {
	d := &Driver{
		Settings:    cfg.Server.EngineSettings(),
		Logger:      opts.Logger,
		defaultCert: opts.DefaultCertificate,
		sessions:    map[uint32]*session{},
		done:        make(chan struct{}),
		hashSlots:   make(chan struct{}, max(2, runtime.NumCPU())),
	}
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
		if c := cur.hostTLS[strings.ToLower(hello.ServerName)]; c != nil {
			return c, nil
		}
		return nil, nil
	}
	return cfg, nil
}

// CheckHost accepts a HOST naming a served tenant (RFC 7151), unless the
// TLS server name already chose another one.
func (d *Driver) CheckHost(cc engine.ClientContext, host string) error {
	st := d.state.Load()
	t := st.lookup(strings.Trim(host, "[]"))
	if t == nil {
		t = st.lookup(host)
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

// AuthUser logs a user in. Every failure that could tell whether a tenant
// or user exists gets errLoginIncorrect once LoginFailureDelay has passed
// since the attempt began, and unknown users are checked against a dummy
// hash, so neither the reply nor its timing says which part was wrong.
func (d *Driver) AuthUser(cc engine.ClientContext, login, pass string) (engine.ClientDriver, error) {
	start := time.Now()
	st := d.state.Load()
	deadline := start.Add(st.cfg.Server.LoginFailureDelay)
	t, name, err := resolveTenant(st, cc, login)
	if err != nil {
		d.Logger.Info("tenancy: login refused", "session", cc.ID(), "login", login, "reason", err)
		return nil, err
	}
	var u *UserConfig
	if t != nil && !t.cfg.Disabled {
		u = t.users[name]
	}
	ok := false
	if u != nil {
		ok = d.verify(t.cfg.ID, u, pass, start)
	} else {
		d.slowVerify(d.dummyHash, pass)
	}
	if !ok || u.Disabled {
		reason := "wrong password"
		switch {
		case t == nil:
			reason = "no tenant"
		case t.cfg.Disabled:
			reason = "tenant disabled"
		case u == nil:
			reason = "unknown user"
		case u.Disabled:
			reason = "user disabled"
		}
		tid := ""
		if t != nil {
			tid = t.cfg.ID
		}
		d.Logger.Info("tenancy: login failed", "session", cc.ID(), "tenant", tid, "user", name, "remote", cc.RemoteAddr().String(), "reason", reason)
		d.wait(deadline)
		return nil, errLoginIncorrect
	}
	if !addrAllowed(u.AllowedCIDRs, cc.RemoteAddr()) {
		d.Logger.Info("tenancy: login from a network the user may not use", "session", cc.ID(), "tenant", t.cfg.ID, "user", name, "remote", cc.RemoteAddr().String())
		d.wait(deadline)
		return nil, &engine.ReplyError{Code: 530, Message: "Login not allowed from your address."}
	}
	if (u.TLSRequired || st.cfg.Server.TLSRequired) && !cc.HasTLSForControl() {
		return nil, &engine.ReplyError{Code: 530, Message: "This account requires TLS: send AUTH TLS first."}
	}
	fs, root, err := openHome(t, u, cc)
	if err != nil {
		d.Logger.Warn("tenancy: cannot open home", "tenant", t.cfg.ID, "user", name, "err", err)
		return nil, &engine.ReplyError{Code: 530, Message: "Home directory unavailable."}
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
		d.wait(deadline)
		return nil, errLoginIncorrect
	}
	d.Logger.Info("tenancy: logged in", "session", cc.ID(), "tenant", t.cfg.ID, "user", name)
	return fs, nil
}

// verify checks a password, through the credential cache.
func (d *Driver) verify(tenantID string, u *UserConfig, pass string, now time.Time) bool {
	cache := d.cache.Load()
	id := cache.id(tenantID, u.Name, u.PasswordHash, pass)
	if cache.has(id, now) {
		return true
	}
	if !d.slowVerify(u.PasswordHash, pass) {
		return false
	}
	cache.add(id, now)
	return true
}

// slowVerify checks a password against a hash in one of hashSlots.
func (d *Driver) slowVerify(hash, pass string) bool {
	select {
	case d.hashSlots <- struct{}{}:
	case <-d.done:
		return false
	}
	defer func() { <-d.hashSlots }()
	return verifyPassword(hash, pass)
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

// errTenantMismatch and errHostGone refuse logins whose tenant choices
// disagree; they say nothing about users, so they need no delay.
var (
	errTenantMismatch  = &engine.ReplyError{Code: 530, Message: "The tenant in the login does not match the one chosen by HOST or TLS."}
	errHostSNIMismatch = &engine.ReplyError{Code: 530, Message: "HOST and the TLS server name choose different tenants."}
	errHostGone        = &engine.ReplyError{Code: 530, Message: "The host chosen with HOST is no longer served."}
)

// resolveTenant finds a login's tenant and user name: HOST first, then the
// TLS server name, then a user@tenant login, then the default tenant. A
// nil tenant with no error means none applies (a failed login).
func resolveTenant(st *state, cc engine.ClientContext, login string) (*tenant, string, error) {
	var chosen *tenant
	if h := cc.HostName(); h != "" {
		if chosen = st.lookup(strings.Trim(h, "[]")); chosen == nil {
			if chosen = st.lookup(h); chosen == nil {
				return nil, "", errHostGone
			}
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
// root is returned to be closed when the session ends.
func openHome(t *tenant, u *UserConfig, cc engine.ClientContext) (engine.ClientDriver, *os.Root, error) {
	st := t.storage
	var inner afero.Fs
	var root *os.Root
	switch st.backend {
	case BackendOS:
		tree := &rootFs{root: st.root}
		if u.Home != "/" {
			if err := makeHome(st, u.Home); err != nil {
				return nil, nil, err
			}
		}
		r, err := tree.openRoot(u.Home)
		if err != nil {
			return nil, nil, err
		}
		root, inner = r, &rootFs{root: r}
	default:
		if u.Home != "/" {
			if err := makeHome(st, u.Home); err != nil {
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

		home:      u.Home,
		maxDepth:  t.cfg.Storage.MaxPathDepth,
		maxLength: t.cfg.Storage.MaxPathLength,
	}
	if u.TLSRequired {
		g.needTLS = func() bool { return !cc.HasTLSForTransfers() }
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
		if err := s.cc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
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
)
