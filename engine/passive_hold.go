package engine

import (
	"errors"
	"sync"
)

// Passive hooks (Server.PassiveHooks) let a plugin bound the passive
// ports a client, user or tenant holds, so that one account cannot take
// every port of the range by repeating PASV or EPSV over many sessions.
// The engine knows nothing of users or tenants: it asks the hooks before
// each port is taken and gives each hook's hold back, exactly once, when
// the port is. A session holds at most two ports at a time, its prepared
// listener and the kept one of passive_spare.go, and both are given back
// on every path that closes them: a data connection taking the port
// (unless the listener is kept), expiry, replacement, ABOR, REIN, a failed
// transfer command and the end of the session.

// portHold is the passive hooks' claim on one held port. A nil *portHold
// (no hooks) holds nothing.
type portHold struct {
	once     sync.Once
	releases []func() // the hooks' release functions, in hook order
}

// release gives the hooks' claims back, last hook first, once.
func (h *portHold) release() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		for i := len(h.releases) - 1; i >= 0; i-- {
			h.releases[i]()
		}
	})
}

// passiveRefusal is a passive hook's refusal of a port.
type passiveRefusal struct{ err error }

func (r *passiveRefusal) Error() string { return "refused by a passive hook: " + r.err.Error() }
func (r *passiveRefusal) Unwrap() error { return r.err }

// holdPassivePort runs the passive hooks for a port that verb is about to
// take. On a refusal the holds taken so far are given back and the error
// is a *passiveRefusal.
func (s *session) holdPassivePort(verb string) (*portHold, error) {
	hooks := s.srv.PassiveHooks
	if len(hooks) == 0 {
		return nil, nil
	}
	p := &PassivePort{Session: s, Verb: verb, Ports: s.passivePortCount()}
	h := &portHold{releases: make([]func(), 0, len(hooks))}
	for _, hook := range hooks {
		release, err := hook(s.ctx, p)
		if release != nil {
			h.releases = append(h.releases, release)
		}
		if err != nil {
			h.release()
			return nil, &passiveRefusal{err: err}
		}
	}
	return h, nil
}

// passivePortCount is PassivePort.Ports: how many ports passive listeners
// come from.
func (s *session) passivePortCount() int {
	if r := s.st.PassiveTransferPortRange; r != nil {
		return r.NumberAttempts()
	}
	return s.srv.ephemeral.size()
}

// passiveFailed answers a PASV or EPSV that got no port: a hook's refusal
// with its reply (425 by default; 421 closes the session), anything else
// with 425.
func (s *session) passiveFailed(err error) {
	var refused *passiveRefusal
	if !errors.As(err, &refused) {
		s.log.Warn("ftp: cannot open passive listener", "err", err)
		s.reply(425, "Cannot open a passive data port.")
		return
	}
	s.log.Info("ftp: passive port refused by hook", "err", refused.err)
	code, msg := replyFor(refused.err, 425, "Cannot open a passive data port.")
	if code == 421 {
		s.closeWith(code, msg)
		return
	}
	s.reply(code, msg)
}
