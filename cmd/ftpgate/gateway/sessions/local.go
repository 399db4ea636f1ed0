package sessions

import (
	"context"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/ftpgate/ftpgate/engine"
)

// Env is how Local learns a session's tenant, user and paths from the
// plugins (gateway.Env).
type Env struct {
	// TenantOf is a session's tenant, "" for none; nil: none.
	TenantOf func(engine.ClientContext) string
	// Identity is a session's tenant and user after login; nil: the
	// login name is the user.
	Identity func(engine.ClientContext) (tenant, user string)
	// TenantPath maps a session path into the tenant's storage; nil or
	// an error: the session path is shown.
	TenantPath func(cc engine.ClientContext, name string) (string, error)
}

// Local is the Registry of one engine.Server: its live sessions as
// Server.Sessions lists them. Make it with New; Install adds the hook
// that keeps byte totals.
type Local struct {
	srv    *engine.Server
	env    Env
	totals *engine.SessionKey[*totals]
}

// totals are a session's data bytes of finished transfers, kept as one of
// its engine.SessionValues from its first transfer on: a session that
// never transfers costs nothing.
type totals struct {
	in, out atomic.Int64
}

// New returns the registry of srv's sessions.
func New(srv *engine.Server, env Env) *Local {
	return &Local{srv: srv, env: env, totals: engine.NewSessionKey[*totals]("sessions totals")}
}

// Install adds the result hook that sums each session's transfer bytes
// to the server; call it once, before the server serves. Without it a
// Session's BytesIn and BytesOut count the running transfer only, and
// the server runs no result hook of Local's (a server with no result
// hooks at all pays nothing for results).
func (l *Local) Install() {
	l.srv.ResultHooks = append(l.srv.ResultHooks, l.result)
}

// result is the engine.ResultHook: it adds a transfer's bytes to its
// session's totals. A session's transfers end one at a time, on its own
// goroutines, so the first one's Set races with nothing.
func (l *Local) result(r *engine.Result) {
	if !r.Transfer || r.Bytes <= 0 {
		return
	}
	t, ok := l.totals.Get(r.Session)
	if !ok || t == nil {
		t = &totals{}
		if !l.totals.Set(r.Session, t) {
			return // ended meanwhile
		}
	}
	if r.Direction == engine.Upload {
		t.in.Add(r.Bytes)
	} else {
		t.out.Add(r.Bytes)
	}
}

// List implements Registry. Its cost is one pass over the server's
// sessions (bounded by its connection limits); only the page's sessions
// are described.
func (l *Local) List(_ context.Context, q Query) ([]Session, string, error) {
	after := int64(-1)
	if q.After != "" {
		id, ok := parseID(q.After)
		if !ok {
			return nil, "", ErrBadCursor
		}
		after = int64(id)
	}
	limit := min(max(q.Limit, 1), MaxPage)
	page := []Session{}
	var last uint32
	for _, si := range l.srv.Sessions() {
		cc := si.Session
		if int64(cc.ID()) <= after || q.Tenant != "" && l.tenantOf(cc) != q.Tenant {
			continue
		}
		if len(page) == limit {
			return page, strconv.FormatUint(uint64(last), 10), nil
		}
		page = append(page, l.describe(si))
		last = cc.ID()
	}
	return page, "", nil
}

// End implements Registry.
func (l *Local) End(_ context.Context, tenant, id, reason string) error {
	n, ok := parseID(id)
	if !ok {
		return ErrNotFound
	}
	// The whole list is walked whether or not the id comes early, so that
	// the time taken does not tell where another tenant's session is.
	var found engine.ClientContext
	for _, si := range l.srv.Sessions() {
		if si.Session.ID() == n {
			found = si.Session
		}
	}
	if found == nil || tenant != "" && l.tenantOf(found) != tenant {
		return ErrNotFound
	}
	if rc, ok := found.(engine.ReplyCloser); ok {
		return rc.CloseWithReply(421, CleanReason(reason))
	}
	return found.Close()
}

func (l *Local) tenantOf(cc engine.ClientContext) string {
	if l.env.TenantOf == nil {
		return ""
	}
	return l.env.TenantOf(cc)
}

// describe makes the Session of si.
func (l *Local) describe(si engine.SessionInfo) Session {
	cc := si.Session
	s := Session{
		ID:       strconv.FormatUint(uint64(cc.ID()), 10),
		Tenant:   l.tenantOf(cc),
		Login:    bound(cc.User()),
		LoggedIn: cc.LoggedIn(),
		Since:    si.Since,
		Command:  bound(cc.GetLastCommand()),
		TLS:      cc.HasTLSForControl(),
		TLSData:  cc.HasTLSForTransfers(),
	}
	if a := cc.RemoteAddr(); a != nil {
		s.Address = a.String()
	}
	if s.LoggedIn {
		s.User = s.Login
		if l.env.Identity != nil {
			if _, u := l.env.Identity(cc); u != "" {
				s.User = bound(u)
			}
		}
	}
	if t, ok := l.totals.Get(cc); ok && t != nil {
		s.BytesIn, s.BytesOut = t.in.Load(), t.out.Load()
	}
	if x := si.Transfer; x != nil {
		p := x.Path
		if l.env.TenantPath != nil && p != "" {
			if tp, err := l.env.TenantPath(cc, p); err == nil {
				p = tp
			}
		}
		s.Transfer = &Transfer{Verb: bound(x.Verb), Path: bound(p), Direction: x.Direction.String(), Since: x.Since, Bytes: x.Bytes}
		if x.Direction == engine.Upload {
			s.BytesIn += x.Bytes
		} else {
			s.BytesOut += x.Bytes
		}
	}
	return s
}

// parseID reads a Local session id: the engine's decimal uint32, without
// sign or leading zeros.
func parseID(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// bound cuts s to maxField bytes, dropping a character cut in two.
func bound(s string) string {
	if len(s) <= maxField {
		return s
	}
	s = s[:maxField]
	for range utf8.UTFMax - 1 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}
