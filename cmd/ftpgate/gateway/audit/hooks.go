package audit

import (
	"context"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
)

// Install adds the log's login hook (which arranges the logout's line
// when a login ends) and result hook to srv, after the hooks already
// there. A Logger without logs or a Ring installs nothing.
func (l *Logger) Install(srv *engine.Server) {
	if l.audit == nil && l.xfer == nil && l.opts.Ring == nil {
		return
	}
	srv.LoginHooks = append(srv.LoginHooks, l.loginHook)
	srv.ResultHooks = append(srv.ResultHooks, l.result)
}

// state returns cc's state, made on first use; nil for a session that
// keeps no values.
func (l *Logger) state(cc engine.ClientContext) *sessionState {
	if st, ok := l.key.Get(cc); ok {
		return st
	}
	st := &sessionState{}
	if !l.key.Set(cc, st) {
		return nil
	}
	return st
}

// loginHook notes the attempt and, for one that logs the session in,
// arranges the logout's line for when the login ends (REIN, QUIT, a
// dropped connection, shutdown).
func (l *Logger) loginHook(ctx context.Context, lg *engine.Login, next engine.LoginFunc) (engine.ClientDriver, error) {
	st := l.state(lg.Session)
	if st != nil {
		st.mu.Lock()
		st.attempt, st.login = lg.Method.String(), clip(lg.User)
		st.mu.Unlock()
	}
	fs, err := next(ctx, lg)
	if err == nil && fs != nil && st != nil {
		cc := lg.Session
		lg.OnEnd(func() { l.logout(cc, st) })
	}
	return fs, err
}

// logout reports the end of a login the log reported; an attempt that a
// hook outside this one refused ends before its reply, and so before it
// was reported, and is not a logout.
func (l *Logger) logout(cc engine.ClientContext, st *sessionState) {
	st.mu.Lock()
	if !st.in {
		st.mu.Unlock()
		return
	}
	st.in = false
	e := Event{Event: "logout", Status: "ok", Tenant: st.tenant, User: st.user, Login: st.login, Bytes: st.bytes,
		DurationMS: l.now().Sub(st.since).Milliseconds()}
	st.mu.Unlock()
	l.fill(&e, cc)
	l.emit(&e)
}

// fill sets the time, the addresses and the session id.
func (l *Logger) fill(e *Event, cc engine.ClientContext) {
	e.Time = Time(l.now())
	e.Session = cc.ID()
	if a := cc.RemoteAddr(); a != nil {
		e.Remote = a.String()
	}
	if p := engine.ProxyInfoOf(cc); p != nil && p.Balancer != nil {
		e.Balancer = p.Balancer.String()
	}
}

// audited is the event kind of each operation the log reports.
var audited = map[string]string{
	"RETR": "transfer", "STOR": "transfer", "APPE": "transfer", "STOU": "transfer",
	"DELE": "command", "RMD": "command", "MKD": "command", "RNFR": "command", "RNTO": "command",
	"SITE CHMOD": "command", "SITE CHOWN": "command", "SITE SYMLINK": "command", "SITE MKDIR": "command", "SITE RMDIR": "command",
	"MFMT": "command", "COMB": "command",
}

// result is the engine.ResultHook: logins, and the operations of audited.
func (l *Logger) result(r *engine.Result) {
	cc := r.Session
	var decision, rule string
	if l.opts.Ruling != nil {
		// Taken for every command, so that none is left for a later one.
		decision, rule, _ = l.opts.Ruling(cc, r.Verb)
	}
	switch r.Verb {
	case "USER", "PASS":
		l.loginResult(r, decision, rule)
		return
	}
	if r.Transfer && r.Bytes > 0 {
		if st, ok := l.key.Get(cc); ok {
			st.mu.Lock()
			st.bytes += r.Bytes
			st.mu.Unlock()
		}
	}
	op := abi.OpOf(r.Verb, r.Arg)
	kind, ok := audited[op]
	if !ok || (op == "RNFR" && r.Code < 400) {
		return // RNFR is reported with its RNTO, unless refused
	}
	if op == "RNTO" || op == "RNFR" {
		op = "RENAME"
	}
	e := Event{Event: kind, Status: status(r.Code), Verb: op, Code: r.Code, DurationMS: r.Duration.Milliseconds(),
		Decision: decision, Rule: rule}
	if st, ok := l.key.Get(cc); ok {
		st.mu.Lock()
		e.Login = st.login
		st.mu.Unlock()
	}
	e.Tenant, e.User = l.identity(cc)
	if len(r.Paths) > 0 {
		e.Path = l.tenantPath(cc, r.Paths[0])
		if (op == "RENAME" || op == "SITE SYMLINK") && len(r.Paths) > 1 {
			e.To = l.tenantPath(cc, r.Paths[1])
		}
	}
	if kind == "transfer" {
		e.Direction = "download"
		if op != "RETR" {
			e.Direction = "upload"
		}
		e.Bytes = r.Bytes
		e.xferlog = r.Transfer
	}
	l.fill(&e, cc)
	l.emit(&e)
}

// loginResult reports a USER or PASS that ended a login attempt: a PASS
// that is not a sequence error (503), or a USER whose certificate
// attempt was decided; a refusal of either by a policy too.
func (l *Logger) loginResult(r *engine.Result, decision, rule string) {
	cc := r.Session
	st := l.state(cc)
	if st == nil {
		return
	}
	st.mu.Lock()
	attempt := st.attempt
	st.attempt = ""
	if r.Verb == "USER" && !st.in {
		st.login = clip(r.Arg) // a USER refused while logged in keeps the login's name
	}
	login := st.login
	st.mu.Unlock()
	switch {
	case r.Verb == "PASS" && r.Code == 503:
		return // no USER before it, or already logged in
	case r.Verb == "PASS" && attempt == "":
		attempt = engine.LoginPassword.String() // refused before the login hooks
	case r.Verb == "USER" && attempt == "" && decision != "deny":
		return // USER alone: the attempt is PASS's
	case r.Verb == "USER" && r.Code == 331:
		return // no certificate decision: a password is asked for
	}
	e := Event{Event: "login", Status: status(r.Code), Login: login, Verb: r.Verb, Code: r.Code,
		DurationMS: r.Duration.Milliseconds(), Decision: decision, Rule: rule, Method: attempt}
	if e.Status == "ok" {
		e.Tenant, e.User = l.identity(cc)
		st.mu.Lock()
		st.in, st.tenant, st.user, st.since, st.bytes = true, e.Tenant, e.User, l.now(), 0
		st.mu.Unlock()
	} else {
		e.Tenant, e.User = l.resolve(cc, login)
	}
	l.fill(&e, cc)
	l.emit(&e)
}

// identity is a logged-in session's tenant and user.
func (l *Logger) identity(cc engine.ClientContext) (tenant, user string) {
	if l.opts.Identity != nil && cc.LoggedIn() {
		if t, u := l.opts.Identity(cc); u != "" {
			return t, u
		}
	}
	if l.opts.TenantOf != nil {
		tenant = l.opts.TenantOf(cc)
	}
	if cc.LoggedIn() {
		user = cc.User()
	}
	return tenant, user
}

// resolve names the tenant and account a failed login was for.
func (l *Logger) resolve(cc engine.ClientContext, login string) (tenant, user string) {
	if l.opts.Resolve != nil && login != "" {
		tenant, user = l.opts.Resolve(cc, login)
	}
	if tenant == "" && l.opts.TenantOf != nil {
		tenant = l.opts.TenantOf(cc)
	}
	return tenant, clip(user)
}

// tenantPath is p inside the tenant's storage, or p when that is unknown.
func (l *Logger) tenantPath(cc engine.ClientContext, p string) string {
	if l.opts.TenantPath != nil && cc.LoggedIn() {
		if tp, err := l.opts.TenantPath(cc, p); err == nil {
			return clip(tp)
		}
	}
	return clip(p)
}

// status is "ok" for a 2xx reply, "failed" otherwise.
func status(code int) string {
	if code >= 200 && code < 300 {
		return "ok"
	}
	return "failed"
}
