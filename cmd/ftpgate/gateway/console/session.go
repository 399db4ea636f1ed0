package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// Bounds of the session store (Options may lower them).
const (
	// DefaultMaxSessions bounds the console sessions kept at once; a new
	// login past it ends the session used least lately.
	DefaultMaxSessions = 64
	// DefaultIdleTimeout ends a session not used for that long.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultMaxAge ends a session that long after its login, used or not.
	DefaultMaxAge = 12 * time.Hour
	// maxPending bounds the uploaded modules kept between a dry run and
	// their install, over all sessions (each at most the runtime's
	// MaxModuleSize); a newer one drops the oldest.
	maxPending = 4
	// pendingTTL is how long a checked module waits for its install.
	pendingTTL = 10 * time.Minute
)

// cookie names: over TLS the __Host- prefix (Secure, Path=/, no Domain:
// a sibling host cannot set or shadow it); over plain HTTP a cookie
// limited to /console.
const (
	cookieTLS   = "__Host-ftpgate-console"
	cookiePlain = "ftpgate-console"
)

// session is one logged-in browser.
type session struct {
	id      admin.Identity
	csrf    string // the form token of this session
	created time.Time
	used    time.Time
	flash   string // a message for the next page shown
	pending *pendingModule
}

// pendingModule is an uploaded module that passed its dry run, waiting
// for the operator or tenant admin to install it.
type pendingModule struct {
	tenant  string
	hash    string
	wasm    []byte
	onError string
	at      time.Time
}

// store is the server side of the console's sessions, keyed by the
// SHA-256 of the cookie value (the value itself is never kept), bounded
// in count (max) and in time (idle, maxAge).
type store struct {
	max         int
	idle, maxAg time.Duration
	now         func() time.Time

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]*session
}

func newStore(max int, idle, maxAge time.Duration, now func() time.Time) *store {
	return &store{max: max, idle: idle, maxAg: maxAge, now: now, sessions: map[[sha256.Size]byte]*session{}}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported systems
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for id and returns the cookie value.
func (s *store) create(id admin.Identity) string {
	value := randomToken()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	for len(s.sessions) >= s.max {
		var oldest [sha256.Size]byte
		var at time.Time
		first := true
		for k, v := range s.sessions {
			if first || v.used.Before(at) {
				oldest, at, first = k, v.used, false
			}
		}
		delete(s.sessions, oldest)
	}
	s.sessions[sha256.Sum256([]byte(value))] = &session{id: id, csrf: randomToken(), created: now, used: now}
	return value
}

// expireLocked drops the sessions past their idle time or age.
func (s *store) expireLocked(now time.Time) {
	for k, v := range s.sessions {
		if now.Sub(v.used) > s.idle || now.Sub(v.created) > s.maxAg {
			delete(s.sessions, k)
		}
	}
}

// with runs f on the session of value, marking it used; false when there
// is none (unknown, expired).
func (s *store) with(value string, f func(*session)) bool {
	if value == "" {
		return false
	}
	key := sha256.Sum256([]byte(value))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.sessions[key]
	if v == nil {
		return false
	}
	if now.Sub(v.used) > s.idle || now.Sub(v.created) > s.maxAg {
		delete(s.sessions, key)
		return false
	}
	v.used = now
	if v.pending != nil && now.Sub(v.pending.at) > pendingTTL {
		v.pending = nil
	}
	if f != nil {
		f(v)
	}
	return true
}

// setPending keeps p in value's session, dropping the oldest pending
// module of any session when maxPending are kept.
func (s *store) setPending(value string, p *pendingModule) {
	key := sha256.Sum256([]byte(value))
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.sessions[key]
	if v == nil {
		return
	}
	v.pending = nil
	for {
		n := 0
		var oldest *session
		for _, o := range s.sessions {
			if o.pending != nil {
				n++
				if oldest == nil || o.pending.at.Before(oldest.pending.at) {
					oldest = o
				}
			}
		}
		if n < maxPending {
			break
		}
		oldest.pending = nil
	}
	v.pending = p
}

// remove ends the session of value.
func (s *store) remove(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sha256.Sum256([]byte(value)))
}

// count is the number of sessions kept (tests).
func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// cookieValue returns the session cookie r carries, "" for none.
func cookieValue(r *http.Request) string {
	name := cookiePlain
	if r.TLS != nil {
		name = cookieTLS
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie sets (or with value "" clears) the session cookie: HttpOnly,
// SameSite=Strict, Secure and __Host- over TLS.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: cookiePlain, Value: value, Path: "/console", HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if r.TLS != nil {
		c.Name, c.Path, c.Secure = cookieTLS, "/", true
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// sameOrigin reports whether a state-changing request may come from this
// console's own pages: Sec-Fetch-Site, when the browser sends it, is
// same-origin; Origin, when sent, is this server's own origin. A request
// with neither (not from a current browser) is judged by its form token
// alone.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && u.Host == r.Host && u.Path == "" && u.User == nil
}

// tokenMatches compares a form's token with the session's in constant
// time.
func tokenMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
