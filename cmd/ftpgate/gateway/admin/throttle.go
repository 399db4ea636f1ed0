package admin

import (
	"cmp"
	"container/list"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the failed-token throttle (Server.MaxAuthFailures,
// AuthFailureWindow, MaxAuthClients).
const (
	// DefaultMaxAuthFailures is how many failed tokens one client address
	// may present within DefaultAuthFailureWindow before its token checks
	// are refused unmade.
	DefaultMaxAuthFailures = 10
	// DefaultAuthFailureWindow is the window failures are counted in, and
	// how long an address that reached the limit is then refused.
	DefaultAuthFailureWindow = time.Minute
	// DefaultMaxAuthClients bounds the addresses whose failures are
	// counted at once. An entry is a prefix, two times, a count and a
	// list element: with the map's own cost well under 256 bytes, so the
	// table stays under 1 MiB.
	DefaultMaxAuthClients = 4096
)

// AuthStats are the figures of the failed-token throttle, for metrics.
type AuthStats struct {
	// Failed counts the tokens that failed their check (empty ones, which
	// guess nothing, are not counted).
	Failed int64
	// Refused counts the checks refused unmade because their client was
	// throttled (429).
	Refused int64
	// Throttled counts the times a client address (or, when the table
	// was full, the addresses outside it) reached the limit.
	Throttled int64
	// Clients is the number of addresses counted now, at most
	// MaxAuthClients.
	Clients int
}

// throttle counts failed token checks per client address (an IPv4
// address, an IPv6 /64: see clientKey) in a fixed window that starts at
// an address's first failure; an address that reaches max failures is
// refused for window from its last one. Successes change nothing: a
// success that cleared the count would let a tenant's admin, whose own
// token is valid, interleave it with guesses at the operator's token at
// full speed.
//
// Memory is bounded by capacity entries. An entry leaves once its window
// (or its refusal) has passed; when every entry is still live, the
// failures of addresses outside the table count together in one shared
// entry, whose refusal then applies to every address outside the table.
// So an attacker who spreads over more addresses than the table holds is
// still held to max failures per window beyond its first capacity
// addresses (at the cost, while it lasts, of refusing tokens from new
// addresses too), rather than evicting its own entries to start afresh.
//
// Checks and failures of one address are not made atomic with the token
// comparison between them (no lock is held across it), so concurrent
// requests from one address may fail up to the connections the server
// holds at once (MaxConns) beyond max before the refusal applies.
type throttle struct {
	max      int
	window   time.Duration
	capacity int

	failed, refused, throttled atomic.Int64

	mu sync.Mutex
	m  map[netip.Prefix]*failures
	// counting holds the entries below max, newest first: their windows
	// start in list order, so the expired ones are at the back.
	counting list.List
	// blocked holds the refused entries, newest first: they were refused
	// in list order for the same window, so the expired ones are at the
	// back.
	blocked  list.List
	overflow failures // the addresses outside a full table; in no list
}

// failures is one client address's count.
type failures struct {
	key   netip.Prefix
	n     int
	start time.Time // the first failure of the window
	until time.Time // refused until then; zero when not refused
	el    *list.Element
}

func newThrottle(max int, window time.Duration, capacity int) *throttle {
	return &throttle{max: max, window: window, capacity: capacity, m: map[netip.Prefix]*failures{}}
}

// clientKey is the throttle's key for a request's RemoteAddr: an IPv4
// address (an IPv4-mapped IPv6 one too) whole, an IPv6 address by its
// /64, the block a single subscriber usually holds, so that one client
// cannot get a fresh count per address of its block. An address that
// does not parse (a handler served outside a listener) shares the zero
// key.
func clientKey(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// expireLocked drops the entries whose window or refusal has passed. Both
// lists are ordered by the time their entries end, so this looks only at
// their backs: O(1) amortised.
func (t *throttle) expireLocked(now time.Time) {
	for e := t.counting.Back(); e != nil; e = t.counting.Back() {
		f := e.Value.(*failures)
		if now.Before(f.start.Add(t.window)) {
			break
		}
		t.counting.Remove(e)
		delete(t.m, f.key)
	}
	for e := t.blocked.Back(); e != nil; e = t.blocked.Back() {
		f := e.Value.(*failures)
		if now.Before(f.until) {
			break
		}
		t.blocked.Remove(e)
		delete(t.m, f.key)
	}
	if o := &t.overflow; (!o.until.IsZero() && !now.Before(o.until)) || (o.until.IsZero() && o.n > 0 && !now.Before(o.start.Add(t.window))) {
		*o = failures{}
	}
}

// retryAfter reports how long key is still refused (0: not refused).
func (t *throttle) retryAfter(key netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	f := t.m[key]
	if f == nil {
		f = &t.overflow
	}
	if f.until.IsZero() {
		return 0
	}
	return f.until.Sub(now)
}

// fail counts a failed token of key; it reports whether key (or the
// addresses outside the table, overflow true) has just reached the limit.
func (t *throttle) fail(key netip.Prefix, now time.Time) (throttled, overflow bool) {
	t.failed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	f := t.m[key]
	switch {
	case f != nil:
	case len(t.m) < t.capacity:
		f = &failures{key: key, start: now}
		f.el = t.counting.PushFront(f)
		t.m[key] = f
	default:
		f, overflow = &t.overflow, true
		if f.n == 0 {
			f.start = now
		}
	}
	if !f.until.IsZero() {
		return false, overflow // refused already: a check that began before the refusal
	}
	f.n++
	if f.n < t.max {
		return false, overflow
	}
	f.until = now.Add(t.window)
	if !overflow {
		t.counting.Remove(f.el)
		f.el = t.blocked.PushFront(f)
	}
	t.throttled.Add(1)
	return true, overflow
}

func (t *throttle) stats() AuthStats {
	t.mu.Lock()
	n := len(t.m)
	t.mu.Unlock()
	return AuthStats{Failed: t.failed.Load(), Refused: t.refused.Load(), Throttled: t.throttled.Load(), Clients: n}
}

// now is the throttle's clock.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// AuthStats returns the figures of the failed-token throttle.
func (s *Server) AuthStats() AuthStats {
	s.init()
	return s.throttle.stats()
}

// CheckToken identifies token as Identify does, for the client of r:
// while the client's address is refused (too many failed tokens, see
// MaxAuthFailures) no comparison is made, ok is false and retry says how
// long until it may try again; otherwise a token that fails counts
// against the address (an empty one, which guesses nothing, does not).
// Every failure takes the same path after Identify's constant-time
// comparisons, whether the token is unknown or another tenant's. Bearer
// tokens go through it, and so does the console's login form.
func (s *Server) CheckToken(r *http.Request, tenant, token string) (id Identity, ok bool, retry time.Duration) {
	s.init()
	key := clientKey(r.RemoteAddr)
	if retry = s.throttle.retryAfter(key, s.now()); retry > 0 {
		s.throttle.refused.Add(1)
		return Identity{}, false, retry
	}
	id, ok = s.Identify(tenant, token)
	if ok || token == "" {
		return id, ok, 0
	}
	if throttled, overflow := s.throttle.fail(key, s.now()); throttled {
		// Once per refusal and address: at most MaxAuthClients+1 lines
		// per window, whatever the attempts.
		window := cmp.Or(s.AuthFailureWindow, DefaultAuthFailureWindow)
		if overflow {
			s.logger().Warn("admin: too many failed tokens from addresses beyond the throttle's table; refusing tokens from every address outside it",
				"failures", cmp.Or(s.MaxAuthFailures, DefaultMaxAuthFailures), "for", window.String(), "remote", r.RemoteAddr)
		} else {
			s.logger().Warn("admin: too many failed tokens; refusing this client's tokens",
				"client", key.String(), "failures", cmp.Or(s.MaxAuthFailures, DefaultMaxAuthFailures), "for", window.String())
		}
	}
	return id, false, 0
}

// RetryAfter is the value of a Retry-After header for retry: whole
// seconds, rounded up, at least 1.
func RetryAfter(retry time.Duration) string {
	return strconv.FormatInt(max(int64((retry+time.Second-1)/time.Second), 1), 10)
}

// tooManyFailures is the reply to a token check refused unmade.
func tooManyFailures(w http.ResponseWriter, retry time.Duration) {
	hangUp(w)
	w.Header().Set("Retry-After", RetryAfter(retry))
	WriteError(w, http.StatusTooManyRequests, "too_many_failures",
		"too many failed tokens from this address; retry after the seconds in Retry-After")
}
