package policy

import (
	"context"
	"io"
	"net"
	"path"
	"sync"
	"sync/atomic"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
)

// TenantFunc names the tenant a session belongs to; "" means none, and
// then no policy applies. Tenancy provides it; `ftpgate serve` answers
// "default" for every session.
type TenantFunc func(cc engine.ClientContext) string

// Hooks adapts a Runtime to engine.Server: Command rules on commands,
// Transfer enforces upload caps while bytes stream. Install adds both; a
// session's pending upload cap is one of its engine.SessionValues, so it
// goes with the session and needs no cleanup hook.
type Hooks struct {
	Runtime *Runtime
	Tenant  TenantFunc

	// Identity gives the tenant and user a session's login resolved to
	// (tenancy.Identity), so that a policy sees "bob" whether bob logged
	// in as bob@acme or as bob after HOST. Nil means the login name is
	// the user (single-user mode); with Identity set, a logged-in session
	// it names no user for has no user in the request.
	Identity func(cc engine.ClientContext) (tenant, user string)
	// TenantPath maps a session path to the path it reaches inside the
	// tenant's storage: the user's home joined with it, links resolved as
	// the session's operations resolve them (tenancy's Driver.TenantPath).
	// Nil, or an error for any of a command's paths, means the tenant
	// paths are unknown: the request then carries none of them (and no
	// home), and policies fall back to the session paths.
	TenantPath func(cc engine.ClientContext, name string) (string, error)

	once sync.Once
	caps *engine.SessionKey[*pendingCap] // the cap of a session's next upload
}

// pendingCap is the cap of a session's next upload, -1 for none. It is
// set once per session and then changed in place: the command hook sets
// it in the session's goroutine, the transfer hook takes it.
type pendingCap struct{ n atomic.Int64 }

// Install adds h's command and transfer hooks to srv, after the hooks
// already there (so that a limiter installed before refuses a flood
// before it costs a policy call). It is the one way to install Hooks.
func (h *Hooks) Install(srv *engine.Server) {
	srv.CommandHooks = append(srv.CommandHooks, h.Command)
	srv.TransferHooks = append(srv.TransferHooks, h.Transfer)
}

func (h *Hooks) key() *engine.SessionKey[*pendingCap] {
	h.once.Do(func() { h.caps = engine.NewSessionKey[*pendingCap]("policy upload cap") })
	return h.caps
}

// NewHooks returns Hooks for r with tenant resolution t.
func NewHooks(r *Runtime, t TenantFunc) *Hooks { return &Hooks{Runtime: r, Tenant: t} }

// isUpload reports whether verb stores bytes the policy may cap.
func isUpload(verb string) bool { return verb == "STOR" || verb == "APPE" || verb == "STOU" }

// Command is an engine.CommandHook. A deny becomes a *engine.ReplyError
// with the policy's code and message (or 451 from on_error); a rewrite
// replaces the primary path; an upload cap is kept for Transfer.
func (h *Hooks) Command(ctx context.Context, cmd *engine.Command) error {
	upload := isUpload(cmd.Verb)
	if upload {
		h.setCap(cmd.Session, -1)
	}
	tenant := h.Tenant(cmd.Session)
	if tenant == "" {
		return nil
	}
	// A subscription to an operation's canonical verb covers its aliases
	// (RMD: XRMD; MFMT: MDTM with a time), so that a policy never misses
	// a command because the client spelled it another way.
	if !h.Runtime.Subscribed(tenant, cmd.Verb) {
		if v := abi.OpVerb(abi.OpOf(cmd.Verb, cmd.Arg)); v == cmd.Verb || !h.Runtime.Subscribed(tenant, v) {
			return nil
		}
	}
	req := h.Request(cmd, tenant)
	d := h.Runtime.Evaluate(ctx, tenant, &req)
	recordRuling(cmd.Session, cmd.Verb, d)
	switch d.Action {
	case Deny:
		return &engine.ReplyError{Code: d.Code, Message: d.Message}
	case Rewrite:
		if i := primaryPath(cmd.Verb, len(cmd.Paths)); i >= 0 {
			cmd.Paths[i] = d.Path
		}
	}
	if upload && d.HasMax {
		h.setCap(cmd.Session, d.MaxBytes)
	}
	return nil
}

// setCap sets the cap of cc's next upload; n < 0 clears it. A session
// that keeps no values (a ClientContext not the engine's) gets no cap.
func (h *Hooks) setCap(cc engine.ClientContext, n int64) {
	k := h.key()
	p, ok := k.Get(cc)
	if !ok {
		if n < 0 {
			return
		}
		p = &pendingCap{}
		if !k.Set(cc, p) {
			return
		}
	}
	p.n.Store(n)
}

// takeCap returns and clears the cap of cc's next upload.
func (h *Hooks) takeCap(cc engine.ClientContext) (int64, bool) {
	p, ok := h.key().Get(cc)
	if !ok {
		return 0, false
	}
	n := p.n.Swap(-1)
	return n, n >= 0
}

// Transfer is an engine.TransferHook: an upload under a cap moves at most
// that many bytes; one more byte from the client ends it with 552, and
// the file keeps what arrived within the cap.
func (h *Hooks) Transfer(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
	if t.Direction != engine.Upload {
		return next
	}
	limit, ok := h.takeCap(t.Session)
	if !ok {
		return next
	}
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		// io.LimitReader keeps the engine's splice path (see CopyFunc).
		n, err := next(ctx, dst, io.LimitReader(src, limit))
		if err != nil || n < limit {
			return n, err
		}
		var probe [1]byte
		for {
			m, err := src.Read(probe[:])
			if m > 0 {
				return n, &engine.ReplyError{Code: 552, Message: "Upload exceeds the size the tenant's policy allows; transfer aborted."}
			}
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
		}
	}
}

// Admission is an engine.AdmissionHook that admits every connection.
//
// Deprecated: the pending cap is a session value now and needs no
// cleanup; use Install. Admission is kept so that existing wiring builds.
func (h *Hooks) Admission(context.Context, engine.ClientContext) (func(), error) {
	return nil, nil
}

// wants reports whether m subscribes to req: to its verb, or to the verb
// of its operation, so that a subscription to RMD covers XRMD and one to
// MFMT covers MDTM with a time (ABI 1.1).
func wants(m *Module, req *abi.Request) bool {
	if m.Subscribed(req.Verb) {
		return true
	}
	op := req.Op
	if op == "" {
		op = abi.OpOf(req.Verb, req.Arg)
	}
	v := abi.OpVerb(op)
	return v != req.Verb && m.Subscribed(v)
}

// primaryPath is the index in Paths a policy's Path stands for: the target
// of RNTO (its last path), the first path otherwise; -1 for none.
func primaryPath(verb string, n int) int {
	switch {
	case n == 0:
		return -1
	case verb == "RNTO":
		return n - 1
	}
	return 0
}

// RequestFor builds the policy request for cmd in tenant for Hooks
// without Identity and TenantPath: the user is the login name and the
// tenant paths are unknown. PASS's argument is never passed on.
func RequestFor(cmd *engine.Command, tenant string) abi.Request {
	return (&Hooks{}).Request(cmd, tenant)
}

// Request builds the policy request for cmd in tenant: the login name as
// typed, the resolved user once logged in (before login tag 5 keeps the
// name as typed, as ABI 1.0 sent it), the operation, the session paths
// and, when TenantPath knows them, the home and the tenant paths. PASS's
// argument is never passed on.
func (h *Hooks) Request(cmd *engine.Command, tenant string) abi.Request {
	cc := cmd.Session
	loggedIn := cc.LoggedIn()
	req := abi.Request{Verb: cmd.Verb, Arg: cmd.Arg, Login: cc.User(), Tenant: tenant, Session: uint64(cc.ID()),
		Op: abi.OpOf(cmd.Verb, cmd.Arg)}
	switch {
	case !loggedIn:
		req.User = req.Login
	case h.Identity != nil:
		_, req.User = h.Identity(cc)
	default:
		req.User = req.Login
	}
	if cmd.Verb == "PASS" {
		req.Arg = ""
	}
	if a := cc.RemoteAddr(); a != nil {
		req.Remote = remoteText(cc, a)
	}
	if req.Host = cc.HostName(); req.Host == "" {
		req.Host = cc.TLSServerName()
	}
	if i := primaryPath(cmd.Verb, len(cmd.Paths)); i >= 0 {
		req.Path = cmd.Paths[i]
		for j, p := range cmd.Paths {
			if j != i {
				req.OtherPaths = append(req.OtherPaths, p)
			}
		}
	}
	if cc.HasTLSForControl() {
		req.Flags |= abi.FlagTLSControl
	}
	if cc.HasTLSForTransfers() {
		req.Flags |= abi.FlagTLSData
	}
	if loggedIn {
		req.Flags |= abi.FlagLoggedIn
		h.addTenantPaths(cc, &req)
	}
	return req
}

// addTenantPaths fills the home and the tenant paths of req, all or
// nothing: a policy never sees a tenant path beside a path whose tenant
// path is unknown, so the two lists stay in step.
func (h *Hooks) addTenantPaths(cc engine.ClientContext, req *abi.Request) {
	if h.TenantPath == nil {
		return
	}
	home, err := h.TenantPath(cc, "/")
	if err != nil || !path.IsAbs(home) {
		return
	}
	var primary string
	var others []string
	if req.Path != "" {
		if primary, err = h.TenantPath(cc, req.Path); err != nil || !path.IsAbs(primary) {
			return
		}
		if len(req.OtherPaths) > 0 {
			others = make([]string, len(req.OtherPaths))
		}
		for i, p := range req.OtherPaths {
			if others[i], err = h.TenantPath(cc, p); err != nil || !path.IsAbs(others[i]) {
				return
			}
		}
	}
	req.Home, req.TenantPath, req.OtherTenantPaths = home, primary, others
}

// remoteNames keeps the text of a session's remote address, which every
// policy request carries: formatting a *net.TCPAddr costs two allocations
// and about 100 ns, on each command. Bound: one value per session (the
// address and its text, under 100 bytes), gone with the session. A
// package-level key that is never reassigned: the per-session values it
// names are the state, and they go with their session.
var remoteNames = engine.NewSessionKey[*remoteName]("policy remote address")

// remoteName is the text of one remote address. It is replaced, never
// changed, so that a reader needs no lock.
type remoteName struct {
	addr *net.TCPAddr
	text string
}

// remoteText returns a's text, from cc's cache when a is the address it
// was made from. The engine hands out one *net.TCPAddr per session (the
// peer's, or the PROXY header's source once read), so the cache is keyed
// by that pointer rather than by when the header arrives: an address that
// changes, or a ClientContext that makes a new one per call, is formatted
// anew and is never served a stale text. The cache holds the pointer, so
// it cannot be freed and reused for another address meanwhile. Addresses
// of other types are formatted each time.
func remoteText(cc engine.ClientContext, a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return a.String()
	}
	if c, ok := remoteNames.Get(cc); ok && c.addr == ta {
		return c.text
	}
	text := ta.String()
	remoteNames.Set(cc, &remoteName{addr: ta, text: text})
	return text
}
