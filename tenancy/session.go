package tenancy

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"sync"

	"github.com/ftpgate/ftpgate/engine"
)

// session is what the driver keeps of one control connection, attached to
// it with ClientContext.SetExtra.
type session struct {
	cc engine.ClientContext

	mu       sync.Mutex
	tenant   string
	user     string
	loggedIn bool
	root     io.Closer // the home's root (a *rootFs), closed when the session ends
	guard    *guardFs  // the logged-in user's filesystem, for TenantPath
}

// login records a successful login, closing the home of an earlier one
// (after REIN).
func (s *session) login(tenant, user string, root io.Closer) {
	s.mu.Lock()
	old := s.root
	s.tenant, s.user, s.loggedIn, s.root = tenant, user, true, root
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

// logout undoes login, closing the home.
func (s *session) logout() {
	s.mu.Lock()
	root := s.root
	s.tenant, s.user, s.loggedIn, s.root = "", "", false, nil
	s.mu.Unlock()
	if root != nil {
		_ = root.Close()
	}
}

// info returns the tenant and user of the last login.
func (s *session) info() (tenant, user string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant, s.user, s.loggedIn
}

// release closes the session's home.
func (s *session) release() {
	s.mu.Lock()
	root := s.root
	s.root = nil
	s.mu.Unlock()
	if root != nil {
		_ = root.Close()
	}
}

// SessionInfo returns the tenant id and user name a session logged in
// with, for other plugins (rate limits, policies) that work per tenant or
// per user. ok is false before login, after REIN, and for sessions of
// another driver.
func SessionInfo(cc engine.ClientContext) (tenant, user string, ok bool) {
	s, isOurs := cc.Extra().(*session)
	if !isOurs || !cc.LoggedIn() {
		return "", "", false
	}
	return s.info()
}

// randomString returns 24 random bytes in base64.
func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported systems
	return base64.RawStdEncoding.EncodeToString(b)
}

// Identity returns the tenant id and user name of the session's latest
// successful login, or two empty strings. Unlike SessionInfo it does not
// wait for the engine to mark the session logged in, so wrappers of the
// driver's AuthUser (the rate limiter's session slots) can key on the
// tenant as soon as AuthUser returns.
func Identity(cc engine.ClientContext) (tenant, user string) {
	s, isOurs := cc.Extra().(*session)
	if !isOurs {
		return "", ""
	}
	t, u, ok := s.info()
	if !ok {
		return "", ""
	}
	return t, u
}
