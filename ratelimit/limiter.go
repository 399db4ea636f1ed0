package ratelimit

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"golang.org/x/time/rate"
)

// IdentityFunc names the tenant and the user of a session. The tenant is
// "" on a server without tenants.
type IdentityFunc func(cc engine.ClientContext) (tenant, user string)

// ResolveFunc names the account a login text means, before any password
// is checked: the tenant (or "") and the user name as the account store
// spells it. Failures are counted per resolved account, so that the
// spellings of one account ("bob@ACME", "bob@ftp.acme.test", "bob" under
// a default tenant) share one count. A login that names no account may
// come back as ("", login).
type ResolveFunc func(cc engine.ClientContext, login string) (tenant, user string)

// LoginResolver is implemented by a MainDriver that can resolve logins
// (tenancy.Driver does, also behind wrappers that have an Unwrap()
// engine.MainDriver method); the limiter uses it when
// Limiter.ResolveLogin is nil.
type LoginResolver interface {
	ResolveLogin(cc engine.ClientContext, login string) (tenant, user string)
}

// OverrideFunc returns overrides for a tenant's limits and for a user's,
// on top of Config.Tenants and Config.Users, with the same rules (0 keeps,
// negative clears). It is asked with user "" for the tenant's limits. A
// program with limits in its tenant files supplies one.
type OverrideFunc func(tenant, user string) (tenantLimits, userLimits Limits)

// Limiter enforces a Config on an engine.Server: Install plugs it in. The
// zero Limiter limits nothing until SetConfig; New returns one with a
// Config. Fields must be set before the server serves. Its methods are
// safe for concurrent use.
type Limiter struct {
	// Identity names a session's tenant and user once it has logged in;
	// nil means no tenant and the USER name.
	Identity IdentityFunc
	// Overrides, when not nil, adds per-tenant and per-user limits.
	Overrides OverrideFunc
	// ResolveLogin names the account a USER argument means, for the
	// per-user failure count. Nil uses the server driver's ResolveLogin
	// when it is a LoginResolver, else the login text as typed.
	ResolveLogin ResolveFunc
	// TenantOf names a session's tenant when Identity does not yet (before
	// login: by HOST or SNI, or a server's one tenant), so that refusal
	// lines carry the tenant whenever it is known; nil: Identity only.
	// It only labels log lines: no limit is keyed on it.
	TenantOf func(cc engine.ClientContext) string
	// Logger receives a line for every refusal; slog.Default() when nil.
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil. Tests move it.
	Now func() time.Time
	// Shared, when not nil, is the state shared with the other
	// instances of a cluster (bans, failure scores, sessions, shared
	// rates); nil keeps it all in this process. See Shared.
	Shared Shared

	once     sync.Once
	setMu    sync.Mutex // serialises SetConfig, so that the config in force and the tables' bounds are one call's
	cfg      atomic.Pointer[compiled]
	gen      atomic.Uint64 // the last compiled.gen given out (store)
	ips      *table[netip.Addr, ipState]
	users    *table[string, accountState] // by userKey(tenant, user)
	tenants  *table[string, accountState]
	bans     *table[netip.Addr, banState]
	sessions *engine.SessionKey[*sessionState] // per admitted connection
	releases chan struct{}                     // slots of the Shared releases running beside logins (endShared): at most maxReleases
	drv      driverInfo                        // set by Install
	conns    atomic.Int64                      // connections admitted and not yet ended
	counters counters
	passive  passiveState // passive ports held (passive.go)
}

// ipState is what is kept per client address (per prefix: see
// Config.IPv6Prefix).
type ipState struct {
	conns       int           // connections open now
	connRate    *rate.Limiter // new connections; nil without ConnRate
	failures    *rate.Limiter // failed logins; nil until the first
	attempts    int           // logins being checked now
	lastFailure int64         // unix nanoseconds of the last failed login, 0: none
	down, up    *rate.Limiter // bytes; nil without IP rates
}

// accountState is what is kept per user and per tenant.
type accountState struct {
	sessions    int           // logged-in sessions now
	failures    *rate.Limiter // failed logins (users only)
	attempts    int           // users only: logins being checked now
	lastFailure int64         // users only: unix nanoseconds of the last failed login
	commands    *rate.Limiter // tenants only: commands of all sessions
	down, up    *rate.Limiter // bytes of all sessions
}

// banState is one address's ban and its offences.
type banState struct {
	until    int64 // unix nanoseconds the ban ends
	offences int   // bans so far, for the doubling
}

// New returns a Limiter enforcing cfg.
func New(cfg Config) (*Limiter, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	l := &Limiter{}
	l.store(c)
	l.setup()
	return l, nil
}

// store puts c in force with a generation of its own, so that a session
// sees with one atomic load both the limits and whether what it cached
// (sessionState.sync) was worked out from them.
func (l *Limiter) store(c *compiled) {
	c.gen = l.gen.Add(1)
	l.cfg.Store(c)
}

// setup makes the tables, once, with the first config's bounds.
func (l *Limiter) setup() {
	l.once.Do(func() {
		c := l.cfg.Load()
		if c == nil {
			c, _ = compile(Config{}) // the zero Config is valid
			l.store(c)
		}
		l.ips = newTable[netip.Addr, ipState](c.MaxTrackedIPs, nil)
		l.users = newTable[string, accountState](c.MaxTrackedUsers, nil)
		l.tenants = newTable[string, accountState](c.MaxTrackedUsers, nil)
		l.bans = newTable[netip.Addr, banState](c.MaxBans, nil)
		l.sessions = engine.NewSessionKey[*sessionState]("ratelimit session")
		l.releases = make(chan struct{}, maxReleases)
	})
}

// SetConfig replaces the limits at run time. Sessions, connection counts,
// failure scores and bans stay; every check from now on uses cfg, and
// shared rates change the next time they are used. An invalid cfg is
// refused and the old one kept.
func (l *Limiter) SetConfig(cfg Config) error {
	c, err := compile(cfg)
	if err != nil {
		return err
	}
	l.setup()
	l.setMu.Lock()
	defer l.setMu.Unlock()
	l.store(c)
	l.ips.setLimit(c.MaxTrackedIPs)
	l.users.setLimit(c.MaxTrackedUsers)
	l.tenants.setLimit(c.MaxTrackedUsers)
	l.bans.setLimit(c.MaxBans)
	return nil
}

// Config returns the limits in force, with defaults filled in.
func (l *Limiter) Config() Config {
	l.setup()
	return l.cfg.Load().Config
}

// Install plugs the limiter into srv, its one way in: it adds its
// admission, login, command, transfer and passive hooks, each first in
// its list, and leaves srv.Driver as it is. Call it after setting
// srv.Driver: the login hook takes the driver's ResolveLogin (when it is
// a LoginResolver and Limiter.ResolveLogin is nil) and learns whether it
// checks client certificates. The admission hook goes first, so that
// refused connections cost the hooks after it nothing, the login hook
// outermost, so that a banned address reaches no other plugin's login
// hook nor the driver, and the transfer hook outermost, so that it
// meters the bytes that reach the network.
func (l *Limiter) Install(srv *engine.Server) {
	l.setup()
	l.drv = inspectDriver(srv.Driver)
	srv.LoginHooks = append([]engine.LoginHook{l.CheckLogin}, srv.LoginHooks...)
	srv.AdmissionHooks = append([]engine.AdmissionHook{l.Admit}, srv.AdmissionHooks...)
	srv.CommandHooks = append([]engine.CommandHook{l.CheckCommand}, srv.CommandHooks...)
	srv.TransferHooks = append([]engine.TransferHook{l.LimitTransfer}, srv.TransferHooks...)
	srv.PassiveHooks = append([]engine.PassiveHook{l.HoldPassivePort}, srv.PassiveHooks...)
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// identity returns a session's tenant and user; user is the fallback when
// the identity function knows no user.
func (l *Limiter) identity(cc engine.ClientContext, user string) (string, string) {
	if l.Identity == nil {
		if u := cc.User(); u != "" {
			user = u
		}
		return "", user
	}
	t, u := l.Identity(cc)
	if u == "" {
		u = user
	}
	return t, u
}

// clientIP returns the client's IP as limits see it: IPv4-mapped forms
// folded to IPv4 and zones dropped, so that one host has one address.
// The per-address tables key on its prefix (compiled.addrKey).
func clientIP(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case nil:
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	return ip.Unmap().WithZone("")
}

// sessionState is what the limiter knows of one admitted connection.
type sessionState struct {
	ctx context.Context // ends with the connection
	ip  netip.Addr      // the client's address, for logs
	key netip.Addr      // its prefix: the key of the per-address tables

	mu       sync.Mutex
	budget   *Budget       // admission's Budget, for the first login to go on with; nil once taken
	commands *rate.Limiter // this session's commands; nil without a rate
	slowed   int           // commands in a row that had to wait for the rate
	login    *login        // the logged-in identity, or nil

	// What every command and transfer would otherwise look up again,
	// worked out for one config (gen) and one login: a new login, REIN
	// and the end of the session set gen to 0, a reload gives the config
	// a new one, and sync then drops it all. The buckets are those of
	// the table entries the session pins (its address's, its login's
	// user's and tenant's), so they stay the entries' own while the
	// cache is valid. The tenant's rate and the buckets are kept only
	// while Limiter.Overrides is nil: an OverrideFunc may answer
	// differently at any time, so it is asked every time, as it always
	// was.
	gen       uint64        // the compiled.gen of what is cached; 0: nothing
	cmdTuned  bool          // commands is tuned for gen and the login
	tenantCmd tenantRate    // the login's tenant's command rate, when tenantOK
	tenantOK  bool          // tenantCmd is set
	tenantBkt *rate.Limiter // the tenant's local command bucket, when set (Shared nil)
	meters    [2]meter      // by direction (meterIndex), when metersOK
	metersOK  [2]bool       // meters[i] is set
}

// sync drops what s cached when it was not worked out under config gen;
// s.mu is held.
func (s *sessionState) sync(gen uint64) {
	if s.gen == gen {
		return
	}
	s.gen, s.cmdTuned = gen, false
	s.tenantCmd, s.tenantOK, s.tenantBkt = tenantRate{}, false, nil
	s.meters, s.metersOK = [2]meter{}, [2]bool{}
}

// login is a logged-in session's identity and the pins it holds.
type login struct {
	tenant, user string
	key          string // userKey(tenant, user), made once
	userPinned   bool
	tenantPinned bool
	hold         *SessionHold // its slots in Limiter.Shared, or nil
}

// session returns the state of an admitted connection, kept as one of
// its engine.SessionValues, or nil when the admission hook never saw it
// (the limiter is then partly installed). The value goes with the
// session, so nothing here needs cleaning up.
func (l *Limiter) session(cc engine.ClientContext) *sessionState {
	s, _ := l.sessions.Get(cc)
	return s
}

// tune makes *lim a bucket of r tokens per second holding burst, or nil
// when r is 0: one place decides how a configured rate becomes a bucket,
// and rates changed by SetConfig reach existing buckets.
func tune(lim **rate.Limiter, r float64, burst int, now time.Time) {
	if r <= 0 {
		*lim = nil
		return
	}
	burst = burstOf(r, burst)
	switch {
	case *lim == nil:
		*lim = rate.NewLimiter(rate.Limit(r), burst)
	case (*lim).Limit() != rate.Limit(r) || (*lim).Burst() != burst:
		(*lim).SetLimitAt(now, rate.Limit(r))
		(*lim).SetBurstAt(now, burst)
	}
}

// burstOf is the burst of a bucket of r tokens per second configured
// with burst: burst, or max(1, r) when it is 0.
func burstOf(r float64, burst int) int {
	if burst <= 0 {
		return max(1, int(r))
	}
	return burst
}

// refuse counts and logs a refusal and returns the 421 the client gets.
func (l *Limiter) refuse(ctx context.Context, r rule, cc engine.ClientContext, ip netip.Addr, msg string, attrs ...any) error {
	l.counters.add(r)
	attrs = l.withTenant(cc, append([]any{"rule", r.String(), "remote", ip.String(), "session", cc.ID()}, attrs...))
	l.logger().InfoContext(ctx, "ratelimit: refused", attrs...)
	return engine.Refuse(421, msg)
}

// withTenant sets the "tenant" of a log line's attributes to cc's tenant
// when the line has none or an empty one and the tenant is known
// (Identity, then TenantOf).
func (l *Limiter) withTenant(cc engine.ClientContext, attrs []any) []any {
	at := -1
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i] == "tenant" {
			if t, _ := attrs[i+1].(string); t != "" {
				return attrs
			}
			at = i + 1
			break
		}
	}
	t := ""
	if l.Identity != nil {
		t, _ = l.Identity(cc)
	}
	if t == "" && l.TenantOf != nil {
		t = l.TenantOf(cc)
	}
	switch {
	case t == "":
	case at >= 0:
		attrs[at] = t
	default:
		attrs = append(attrs, "tenant", t)
	}
	return attrs
}

// wait waits d, or until ctx ends; it reports whether the wait completed.
// It holds no lock, so a waiting session delays nobody else.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
