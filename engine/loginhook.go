package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
)

// LoginMethod says how a client tries to log in.
type LoginMethod int

// Login methods.
const (
	// LoginPassword is USER then PASS, checked by the driver's AuthUser.
	LoginPassword LoginMethod = iota
	// LoginCertificate is USER on a TLS control connection, checked by
	// the driver's MainDriverExtensionTLSVerifier against the client's
	// certificate.
	LoginCertificate
)

// String returns "password" or "certificate".
func (m LoginMethod) String() string {
	if m == LoginCertificate {
		return "certificate"
	}
	return "password"
}

// Login is one login attempt as the login hooks see it. Hooks never see
// the password.
type Login struct {
	// Session is the session logging in.
	Session ClientContext
	// User is the name given with USER, exactly as the client sent it.
	// The driver gets the name the engine received, whatever a hook does
	// to this field.
	User string
	// Method says which of the driver's methods checks the attempt.
	Method LoginMethod

	// What the driver is given (the name as received, the password, the
	// TLS state) is held by the innermost LoginFunc, not here: a Login is
	// kept while its session is logged in.
	mu    sync.Mutex
	ends  []func() // OnEnd's functions, run last first
	ended bool
}

// OnEnd arranges for release to be called exactly once, when what this
// attempt started is over. For an attempt that logs the session in, that
// is when the session logs out (REIN) or ends (QUIT, a dropped connection,
// Server.Shutdown or Close). For any other attempt (refused by a hook or
// the driver, or a certificate check that asks for a password) it is as
// soon as the hooks have returned, before the client gets the reply.
// Releases run last registered first. So a hook that takes something for
// a login (a session slot) and registers its release gets it back on
// every path, also when a hook outside it refuses a login the driver
// accepted. OnEnd is meant to be called while the hook runs; once the
// login has ended, it calls release at once.
func (l *Login) OnEnd(release func()) {
	if release == nil {
		return
	}
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		release()
		return
	}
	l.ends = append(l.ends, release)
	l.mu.Unlock()
}

// end runs the releases once.
func (l *Login) end() {
	l.mu.Lock()
	ends := l.ends
	l.ends, l.ended = nil, true
	l.mu.Unlock()
	for i := len(ends) - 1; i >= 0; i-- {
		ends[i]()
	}
}

// LoginFunc checks a login attempt: the login hooks after the caller's,
// then the driver's AuthUser (LoginPassword) or VerifyTLSClient
// (LoginCertificate). It returns the filesystem the session is to use, or
// why the attempt is refused.
type LoginFunc func(ctx context.Context, l *Login) (ClientDriver, error)

// LoginHook wraps every login attempt. It runs in the session's goroutine
// once the CommandHooks have let the USER (for LoginCertificate) or PASS
// command through, with a ctx that ends with the session. A hook may
// refuse the attempt before the driver sees it, by returning an error
// without calling next (a banned address, a user with too many recent
// failures); it learns the outcome from what next returns, and may turn a
// success into a refusal (no session slot left) or return another
// ClientDriver for the session to use (a wrapper of next's). Hooks are
// applied in order, so the first hook of Server.LoginHooks is outermost:
// it runs first and learns the outcome last. Login.OnEnd gives back what
// a hook took for the login.
//
// An error refuses the login with 530, or with the code and message of a
// *ReplyError; a 421 also closes the session. A LoginCertificate attempt
// that the driver leaves undecided returns a nil ClientDriver and a nil
// error, and the client is then asked for a password (a LoginPassword
// attempt of its own); a hook should pass that result on. A LoginPassword
// attempt that returns a nil ClientDriver without an error is refused
// with 530.
//
// Values the driver gives the session while it checks the attempt (with a
// SessionKey), such as the tenant and account it resolved the user name
// to, are there for the hook once next returns.
type LoginHook func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error)

// errNoFilesystem refuses a password login that the driver accepted
// without a filesystem.
var errNoFilesystem = errors.New("driver returned no filesystem")

// runLogin runs an attempt through the login hooks to the driver, and ends
// it unless it logged the session in. It returns the Login to keep until
// the login ends, nil without hooks: a server without login hooks
// allocates nothing for a login (short-lived objects between the long-lived
// ones of idle sessions would cost heap too).
func (s *session) runLogin(method LoginMethod, user, pass string, state *tls.ConnectionState) (ClientDriver, *Login, error) {
	if len(s.srv.LoginHooks) == 0 {
		fs, err := s.askDriver(method, user, pass, state)
		fs, err = loginResult(method, fs, err)
		return fs, nil, err
	}
	l := &Login{Session: s, User: user, Method: method}
	driver := func(context.Context, *Login) (ClientDriver, error) {
		return s.askDriver(method, user, pass, state)
	}
	fs, err := s.loginStep(0, driver)(s.ctx, l)
	fs, err = loginResult(method, fs, err)
	if fs == nil {
		l.end()
	}
	return fs, l, err
}

// loginResult is the outcome of an attempt: a filesystem, or an error, or
// neither for a certificate attempt that asks for a password.
func loginResult(method LoginMethod, fs ClientDriver, err error) (ClientDriver, error) {
	if err == nil && fs == nil && method == LoginPassword {
		err = errNoFilesystem
	}
	if err != nil {
		return nil, err
	}
	return fs, nil
}

// loginStep returns the LoginFunc that runs the login hooks from the i-th
// on, then driver.
func (s *session) loginStep(i int, driver LoginFunc) LoginFunc {
	hooks := s.srv.LoginHooks
	if i >= len(hooks) {
		return driver
	}
	return func(ctx context.Context, l *Login) (ClientDriver, error) {
		return hooks[i](ctx, l, s.loginStep(i+1, driver))
	}
}

// askDriver asks the driver, with what the engine received.
func (s *session) askDriver(method LoginMethod, user, pass string, state *tls.ConnectionState) (ClientDriver, error) {
	if method == LoginCertificate {
		v := s.srv.mainExt().verifier
		if v == nil {
			return nil, nil
		}
		var st tls.ConnectionState
		if state != nil {
			st = *state
		}
		return v.VerifyTLSClient(s, user, st)
	}
	return s.srv.Driver.AuthUser(s, user, pass)
}

// endLogin ends the session's login, if one waits for its end: REIN and
// the end of the session call it.
func (s *session) endLogin() {
	s.mu.Lock()
	l := s.login
	s.login = nil
	s.mu.Unlock()
	if l != nil {
		l.end()
	}
}
