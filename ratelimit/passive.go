package ratelimit

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/engine"
)

// Passive port caps. A passive port is held while its listener is open
// and no data connection has consumed it: from the PASV or EPSV that took
// it until its transfer's data connection arrives, it expires unclaimed,
// another PASV/EPSV/PORT/EPRT, ABOR or REIN drops it, or the session ends;
// a listener the engine keeps for the session's next PASV or EPSV is held
// until it is closed (engine.PassiveHook). Without caps, one account that
// repeats EPSV over many sessions holds every port of the range, and every
// other tenant's PASV gets 425.
//
// The caps (Config.PassivePerIP, PassivePerUser, PassivePerTenant) bound
// the ports held at once by one client address (grouped by Config.IPv4Prefix and IPv6Prefix, the
// unit one host is given), one user and one tenant. Their defaults leave
// room for everyone else whatever the size of the pool N the ports come
// from (engine.PassivePort.Ports):
//
//	per address: min(32, N/2)    per user: min(16, N/4)    per tenant: min(1024, N/2)
//
// each at least 1. A refused PASV or EPSV gets 425 with the reason and
// the session goes on. The counts live in bounded tables: an entry exists
// only while it holds a port, so their memory is proportional to the
// ports held, which the pool bounds.

// Defaults of the passive caps; see above.
const (
	defaultPassivePerIP      = 32
	defaultPassivePerUser    = 16
	defaultPassivePerTenant  = 1024
	passiveIdleEntriesPerMap = tableShards // entries at 0 are dropped at once
)

// passiveCaps returns the caps for a pool of ports; 0 is no limit.
func (c *compiled) passiveCaps(pool int) (perIP, perUser, perTenant int) {
	pool = max(pool, 1)
	pick := func(set, def int) int {
		switch {
		case set > 0:
			return set
		case set < 0:
			return 0
		}
		return max(def, 1)
	}
	return pick(c.PassivePerIP, min(defaultPassivePerIP, pool/2)),
		pick(c.PassivePerUser, min(defaultPassivePerUser, pool/4)),
		pick(c.PassivePerTenant, min(defaultPassivePerTenant, pool/2))
}

// passiveState is the limiter's count of held passive ports.
type passiveState struct {
	once    sync.Once
	ips     *table[netip.Addr, int]
	users   *table[string, int] // by userKey(tenant, user)
	tenants *table[string, int]
	held    atomic.Int64
	refused [3]atomic.Uint64 // per address, user, tenant
}

func (p *passiveState) setup() {
	p.once.Do(func() {
		p.ips = newTable[netip.Addr, int](passiveIdleEntriesPerMap, nil)
		p.users = newTable[string, int](passiveIdleEntriesPerMap, nil)
		p.tenants = newTable[string, int](passiveIdleEntriesPerMap, nil)
	})
}

// take counts one more port for k unless it holds limit already (0: no
// limit), and reports whether it did. A counted entry is pinned, so it is
// never evicted while it holds ports.
func take[K comparable](t *table[K, int], k K, limit int, now time.Time) bool {
	ok := false
	t.with(k, now, 0, func(n *int, _ bool) int {
		if limit > 0 && *n >= limit {
			return 0
		}
		*n++
		ok = true
		return 1
	})
	return ok
}

// give takes back a port counted by take.
func give[K comparable](t *table[K, int], k K, now time.Time) {
	t.with(k, now, 0, func(n *int, _ bool) int {
		*n = max(*n-1, 0)
		return -1
	})
}

// HoldPassivePort is the limiter's engine.PassiveHook (Install adds it):
// it refuses, with 425 and the reason, a passive port that would take the
// client's address, its user or its tenant past their cap, and otherwise
// counts the port until the engine gives it back.
func (l *Limiter) HoldPassivePort(ctx context.Context, pp *engine.PassivePort) (func(), error) {
	l.setup()
	p := &l.passive
	p.setup()
	c := l.cfg.Load()
	perIP, perUser, perTenant := c.passiveCaps(pp.Ports)
	cc := pp.Session
	// The address counts by the prefix its session was admitted under
	// (Config.IPv4Prefix, IPv6Prefix), as every per-address limit does.
	ip, key := l.sessionAddr(cc, c)
	tenant, user := l.identity(cc, cc.User())
	uk := l.loginKey(cc, tenant, user)
	now := l.now()

	refuse := func(which int, msg string, limit int) error {
		p.refused[which].Add(1)
		l.logger().InfoContext(ctx, "ratelimit: refused", l.withTenant(cc, []any{"rule", passiveRuleNames[which],
			"remote", ip.String(), "session", cc.ID(), "tenant", tenant, "user", user, "limit", limit})...)
		return engine.Refuse(425, msg)
	}
	if !take(p.ips, key, perIP, now) {
		return nil, refuse(0, "Too many passive ports held from your address; finish or abort other transfers first.", perIP)
	}
	if user != "" && !take(p.users, uk, perUser, now) {
		give(p.ips, key, now)
		return nil, refuse(1, "Too many passive ports held by this user; finish or abort other transfers first.", perUser)
	}
	if tenant != "" && !take(p.tenants, tenant, perTenant, now) {
		if user != "" {
			give(p.users, uk, now)
		}
		give(p.ips, key, now)
		return nil, refuse(2, "Too many passive ports held by this tenant; try again later.", perTenant)
	}
	p.held.Add(1)
	h := &passiveHold{l: l, key: key, tenant: tenant, uk: uk, user: user != ""}
	return h.release, nil
}

// passiveHold is one passive port counted by HoldPassivePort, until its
// release: one allocation for what the release needs, its guard included.
type passiveHold struct {
	l      *Limiter
	key    netip.Addr // the address's prefix
	tenant string     // "": not counted per tenant
	uk     string     // userKey of the user, counted when user is true
	user   bool
	done   atomic.Bool // released: the engine calls release once, and a second call must not count twice
}

// release gives the port back.
func (h *passiveHold) release() {
	if h.done.Swap(true) {
		return
	}
	p, now := &h.l.passive, h.l.now()
	if h.tenant != "" {
		give(p.tenants, h.tenant, now)
	}
	if h.user {
		give(p.users, h.uk, now)
	}
	give(p.ips, h.key, now)
	p.held.Add(-1)
}

// loginKey returns userKey(tenant, user), without making it again when it
// is the key of cc's login.
func (l *Limiter) loginKey(cc engine.ClientContext, tenant, user string) string {
	if s := l.session(cc); s != nil {
		s.mu.Lock()
		lg := s.login
		s.mu.Unlock()
		if lg != nil && lg.tenant == tenant && lg.user == user {
			return lg.key
		}
	}
	return userKey(tenant, user)
}

// passiveRuleNames name the passive caps in logs (rule=...).
var passiveRuleNames = [3]string{"passive_per_ip", "passive_per_user", "passive_per_tenant"}

// PassiveStats counts what the passive caps did and hold.
type PassiveStats struct {
	RefusedPerIP     uint64 // passive_per_ip: PASV/EPSV refused for the address's cap
	RefusedPerUser   uint64 // passive_per_user
	RefusedPerTenant uint64 // passive_per_tenant
	Held             int64  // passive ports held now (gauge)
}

// PassiveStats returns a snapshot of the passive caps' counters.
func (l *Limiter) PassiveStats() PassiveStats {
	p := &l.passive
	return PassiveStats{
		RefusedPerIP:     p.refused[0].Load(),
		RefusedPerUser:   p.refused[1].Load(),
		RefusedPerTenant: p.refused[2].Load(),
		Held:             p.held.Load(),
	}
}
