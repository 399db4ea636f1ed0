package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// Settings are a tenant's choices for its installed module.
type Settings struct {
	// OnError is the decision when the module fails (default deny, 451).
	OnError OnError
	// Config is passed to the module's ftpp_init, once per instance.
	Config []byte
}

// ErrBusy is DryRun's error when every instance slot of the tenant's
// installation stayed taken for InitTimeout.
var ErrBusy = errors.New("policy: every instance of this tenant's policy is busy; retry later")

// tenantState is what the Runtime keeps per tenant. Its figures outlive
// module swaps.
type tenantState struct {
	cur     atomic.Pointer[installation]
	pending atomic.Pointer[pendingPolicy] // set only while cur is nil
	mu      sync.Mutex                    // orders changes of cur and pending
	stats   stats
	breaker breaker
}

// pendingPolicy is a stored policy that is not installed: being restored
// in the background, or quarantined because it failed. Either way the
// commands it would judge are refused (see Evaluate).
type pendingPolicy struct {
	quarantined bool
	hash        string
	reason      string          // why it is quarantined
	subs        map[string]bool // the verbs it subscribes to; nil: every verb
}

// subscribed reports whether the pending policy would judge verb.
func (p *pendingPolicy) subscribed(verb string) bool { return p.subs == nil || p.subs[verb] }

// Replies to the commands a pending policy would judge: 451, as when a
// policy fails with on_error deny, whatever the tenant's on_error (an
// unchecked module is not a failing one the tenant chose to tolerate).
const (
	restoringMessage   = "Requested action aborted: the tenant's policy is being loaded; try again shortly."
	unknownMessage     = "Requested action aborted: the tenant's policy cannot be read now; try again later."
	quarantinedMessage = "Requested action aborted: the tenant's policy is unavailable."
)

var (
	errRestoring   = errors.New("policy: the tenant's stored policy is not restored yet")
	errQuarantined = errors.New("policy: the tenant's stored policy is quarantined")
	errUnknown     = errors.New("policy: the policy store cannot be read (fail closed)")
)

// PolicyState describes a tenant's stored policy that is not installed.
type PolicyState struct {
	// State is "restoring" or "quarantined".
	State string `json:"state"`
	// SHA256 is the stored module's hash.
	SHA256 string `json:"sha256"`
	// Reason is why a quarantined module was not installed.
	Reason string `json:"reason,omitempty"`
}

// Pending reports the state of tenant's stored policy when it is not
// installed: being restored, or quarantined.
func (r *Runtime) Pending(tenant string) (PolicyState, bool) {
	ts := r.tenant(tenant, false)
	if ts == nil {
		return PolicyState{}, false
	}
	p := ts.pending.Load()
	if p == nil {
		return PolicyState{}, false
	}
	st := PolicyState{State: "restoring", SHA256: p.hash}
	if p.quarantined {
		st.State, st.Reason = "quarantined", p.reason
	}
	return st, true
}

// markPending records that tenant has a stored policy (hash, subscribing
// to subs; nil or "*" for every verb) that is not installed yet, unless
// one is installed. It returns the mark for installRestored.
func (r *Runtime) markPending(tenant, hash string, subs []string) *pendingPolicy {
	p := &pendingPolicy{hash: hash}
	if len(subs) > 0 && !slices.Contains(subs, "*") {
		p.subs = make(map[string]bool, len(subs))
		for _, v := range subs {
			p.subs[strings.ToUpper(v)] = true
		}
	}
	ts := r.tenant(tenant, true)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cur.Load() == nil {
		ts.pending.Store(p)
	}
	return p
}

// installRestored installs m unless tenant's pending mark is no longer p
// (an upload or a removal came first); it reports whether it did, and
// closes m when not.
func (r *Runtime) installRestored(tenant string, p *pendingPolicy, m *Module, s Settings) bool {
	ts := r.tenant(tenant, true)
	ts.mu.Lock()
	ok := ts.pending.Load() == p && ts.cur.Load() == nil
	if ok {
		r.installLocked(ts, tenant, m, s)
	}
	ts.mu.Unlock()
	if !ok {
		_ = m.Close(context.Background())
	}
	return ok
}

// quarantine turns tenant's pending mark p into a quarantined one, unless
// it is no longer p.
func (r *Runtime) quarantine(tenant string, p *pendingPolicy, reason string) bool {
	ts := r.tenant(tenant, true)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.pending.Load() != p {
		return false
	}
	q := *p
	q.quarantined, q.reason = true, reason
	ts.pending.Store(&q)
	return true
}

// pendingDecision is the reply to a command tenant's pending policy p
// would judge.
func pendingDecision(p *pendingPolicy) Decision {
	if p.quarantined {
		return Decision{Action: Deny, Code: onErrorCode, Message: quarantinedMessage, Err: errQuarantined}
	}
	return Decision{Action: Deny, Code: onErrorCode, Message: restoringMessage, Err: errRestoring}
}

// installation is one installed module version with its pool.
type installation struct {
	mod      *Module
	pool     *pool
	settings Settings
}

// breaker opens after too many errors in a window, so that a broken
// module costs a map lookup rather than a deadline per command.
type breaker struct {
	mu   sync.Mutex
	errs []time.Time
	// openUntil is the end of the current cooldown, nil when the breaker
	// never opened or was reset. It is read without mu, because every
	// call asks (open) and only failures write; a time.Time rather than
	// nanoseconds keeps the monotonic clock reading, so that a step of
	// the wall clock neither lengthens nor shortens a cooldown.
	openUntil atomic.Pointer[time.Time]
}

// open reports whether calls are currently skipped.
func (b *breaker) open(now time.Time) bool {
	u := b.openUntil.Load()
	return u != nil && now.Before(*u)
}

// failure records an error and reports whether the breaker just opened.
func (b *breaker) failure(now time.Time, cfg *Config) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cut := now.Add(-cfg.BreakerWindow)
	keep := b.errs[:0]
	for _, t := range b.errs {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	b.errs = append(keep, now)
	if len(b.errs) >= cfg.BreakerErrors && !b.open(now) {
		until := now.Add(cfg.BreakerCooldown)
		b.openUntil.Store(&until)
		b.errs = b.errs[:0]
		return true
	}
	return false
}

func (b *breaker) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = nil
	b.openUntil.Store(nil)
}

func (r *Runtime) tenant(id string, create bool) *tenantState {
	r.mu.RLock()
	ts := r.tenants[id]
	r.mu.RUnlock()
	if ts != nil || !create {
		return ts
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ts = r.tenants[id]; ts == nil {
		ts = &tenantState{}
		r.tenants[id] = ts
	}
	return ts
}

// Install makes m tenant's policy from its next command on. Calls in
// flight finish on the old module, whose instances are then closed; the
// breaker starts closed. The Runtime owns m from now on.
func (r *Runtime) Install(tenant string, m *Module, s Settings) {
	ts := r.tenant(tenant, true)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	r.installLocked(ts, tenant, m, s)
}

// installLocked is Install with ts.mu held. The new module is in place
// before the pending mark goes, so no command slips between the two.
func (r *Runtime) installLocked(ts *tenantState, tenant string, m *Module, s Settings) {
	in := &installation{mod: m, pool: newPool(r, m, tenant, s.Config), settings: s}
	old := ts.cur.Swap(in)
	ts.pending.Store(nil)
	ts.breaker.reset()
	if old != nil {
		old.pool.retire(context.Background())
	}
}

// Remove uninstalls tenant's policy, or forgets its pending one; it
// reports whether there was either.
func (r *Runtime) Remove(tenant string) bool {
	ts := r.tenant(tenant, false)
	if ts == nil {
		return false
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	old := ts.cur.Swap(nil)
	pending := ts.pending.Swap(nil)
	if old != nil {
		old.pool.retire(context.Background())
	}
	return old != nil || pending != nil
}

// StateKnown reports whether every tenant's policy is known: false only
// while a shared store that fails closed could not be read yet, when
// every command is refused (see Evaluate); a gateway is not ready then.
func (r *Runtime) StateKnown() bool { return !r.unknown.Load() }

// ruledTenants lists the tenants with an installed or pending policy.
func (r *Runtime) ruledTenants() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for id, ts := range r.tenants {
		if ts.cur.Load() != nil || ts.pending.Load() != nil {
			out = append(out, id)
		}
	}
	return out
}

// Installed returns the module installed for tenant and its settings.
func (r *Runtime) Installed(tenant string) (*Module, Settings, bool) {
	if ts := r.tenant(tenant, false); ts != nil {
		if in := ts.cur.Load(); in != nil {
			return in.mod, in.settings, true
		}
	}
	return nil, Settings{}, false
}

// Subscribed reports whether tenant has a policy that wants verb, so that
// callers can skip building a request for the rest; a pending policy
// (restoring or quarantined) wants the verbs it subscribed to when stored.
func (r *Runtime) Subscribed(tenant, verb string) bool {
	if ts := r.tenant(tenant, false); ts != nil {
		if in := ts.cur.Load(); in != nil {
			return in.mod.Subscribed(verb)
		}
		if p := ts.pending.Load(); p != nil {
			return p.subscribed(verb)
		}
	}
	return r.unknown.Load()
}

// unknownDecision refuses a command while no tenant's policy is known
// (Runtime.unknown).
func unknownDecision() Decision {
	return Decision{Action: Deny, Code: onErrorCode, Message: unknownMessage, Err: errUnknown}
}

// Evaluate asks tenant's policy about req. Without a policy, or for a verb
// the policy does not subscribe to, the answer is Allow with Called false.
// While the tenant's stored policy is being restored or is quarantined,
// the commands it subscribes to are refused with 451 (fail closed), and
// so is every command of a tenant without a known policy while a shared
// store that fails closed cannot be read (Runtime.unknown).
// When the module fails, the answer is the tenant's OnError decision with
// Err set; the failure is logged with the module's hash and the wasm stack.
//
// A command whose context ends while it waits for an instance is refused
// with 451 whatever OnError says, and it does not count as the module's
// failure (see cancelledDecision); so is a command that found the module
// replaced under it more than maxSwapRetries times in a row (see
// swappedDecision).
func (r *Runtime) Evaluate(ctx context.Context, tenant string, req *abi.Request) Decision {
	for range maxSwapRetries + 1 {
		d, retired := r.evaluate(ctx, tenant, req)
		if !retired {
			return d
		}
	}
	r.cfg.Logger.Warn("policy: module replaced under the call too often", "tenant", tenant, "verb", req.Verb,
		"attempts", maxSwapRetries+1)
	return swappedDecision()
}

// maxSwapRetries bounds how often Evaluate asks the new module after the
// one it waited for was replaced: a tenant admin token that swaps modules
// continuously must not keep a command waiting (each attempt waits up to
// InitTimeout) nor make it recurse without end. One swap is what an
// upload does; a few more in a row is an admin token racing its own
// uploads, whose command may fairly be refused.
const maxSwapRetries = 3

// evaluate is one attempt of Evaluate on the tenant's current module; its
// bool reports that the module was replaced while the call waited for an
// instance, so that Evaluate asks the new one.
func (r *Runtime) evaluate(ctx context.Context, tenant string, req *abi.Request) (Decision, bool) {
	ts := r.tenant(tenant, false)
	if ts == nil {
		if r.unknown.Load() {
			return unknownDecision(), false
		}
		return Decision{Action: Allow}, false
	}
	in := ts.cur.Load()
	if in == nil {
		p := ts.pending.Load()
		if p != nil && (p.subscribed(req.Verb) || p.subscribed(abi.OpVerb(opOf(req)))) {
			return pendingDecision(p), false
		}
		if p == nil && r.unknown.Load() {
			return unknownDecision(), false
		}
		return Decision{Action: Allow}, false
	}
	if !wants(in.mod, req) {
		return Decision{Action: Allow}, false
	}
	now := r.cfg.Now()
	if ts.breaker.open(now) {
		ts.stats.skipped.Add(1)
		return in.settings.OnError.decision(errBreakerOpen), false
	}
	if req.NowMillis == 0 {
		req.NowMillis = uint64(now.UnixMilli())
	}
	bp := requestBuffers.Get().(*[]byte)
	defer requestBuffers.Put(bp)
	buf, err := abi.AppendRequest((*bp)[:0], req)
	*bp = buf
	if err != nil || len(buf) > maxRequestLen {
		// The client's command is too big to ask about; that is not the
		// module's failure, so the breaker does not hear of it.
		return Decision{Action: Deny, Code: 501, Message: "Command too long for the tenant's policy."}, false
	}

	d, err := r.run(ctx, ts, in, req, buf)
	if err != nil {
		switch {
		case errors.Is(err, errRetired):
			// Swapped while waiting: Evaluate asks the new module.
			return Decision{}, true
		case errors.Is(err, errCallerGone):
			return r.cancelled(ts, in, req, err), false
		case errors.Is(err, errPoolBusy):
			return r.refuseBusy(ts, in, req, err), false
		}
		return r.failed(ts, in, req, err), false
	}
	if len(d.Annotations) > 0 {
		r.cfg.Logger.Info("policy: annotations", "tenant", tenant, "module", in.mod.ShortHash(), "verb", req.Verb,
			"session", req.Session, "annotations", d.Annotations)
	}
	switch d.Action {
	case Deny:
		ts.stats.denies.Add(1)
	case Rewrite:
		ts.stats.rewrites.Add(1)
	default:
		ts.stats.allows.Add(1)
	}
	return d, false
}

// maxRequestLen bounds an encoded request; the ABI promises guests no
// request is larger.
const maxRequestLen = 64 << 10

var requestBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var errBreakerOpen = errors.New("policy: circuit breaker open")

// run makes one call on a pooled instance.
func (r *Runtime) run(ctx context.Context, ts *tenantState, in *installation, req *abi.Request, buf []byte) (Decision, error) {
	inst, err := in.pool.get(ctx)
	if err != nil {
		// The caller's context ending shows as ctx.Err() from the wait for
		// a slot, or as whatever error instantiate gives on a dead
		// context; either way the module is not to blame. Only get looks
		// at ctx: the call itself runs under CallTimeout alone (see
		// RATIONALE), so a module that fails in the call is blamed even
		// if its caller is gone meanwhile.
		if cerr := ctx.Err(); cerr != nil {
			return Decision{}, fmt.Errorf("%w: %w (waiting for an instance: %v)", errCallerGone, cerr, err)
		}
		return Decision{}, err
	}
	start := time.Now()
	resp, err := inst.call(r.cfg.CallTimeout, buf)
	end := time.Now()
	ts.stats.calls.Add(1)
	ts.stats.observe(end.Sub(start))
	if !r.realClock {
		end = r.cfg.Now() // the idle clock is the configured one
	}
	if err != nil {
		in.pool.put(ctx, inst, false, end)
		return Decision{}, err
	}
	d, err := decide(resp, req)
	// A malformed answer shows the guest is confused: do not reuse it.
	in.pool.put(ctx, inst, err == nil, end)
	return d, err
}

// errCallerGone means the command's context ended (its client hung up or
// aborted, or the gateway is shutting down) before the call had an
// instance.
var errCallerGone = errors.New("policy: the command's context ended before its policy call")

// errSwapped means the tenant's module was replaced under a call more
// than maxSwapRetries times in a row.
var errSwapped = errors.New("policy: the tenant's module was replaced under the call too often")

const (
	cancelledMessage = "Requested action aborted: the tenant's policy is unavailable; try again."
	swappedMessage   = "Requested action aborted: the tenant's policy is being replaced; try again shortly."
	busyMessage      = "Requested action aborted: the tenant's policy is busy; try again."
)

// cancelledDecision is the answer to a command whose context ended before
// its policy call: Deny with 451 whatever OnError says. The policy did
// not judge the command, and on_error allow is the tenant admin's choice
// for a failing module, not for a call its caller gave up: an Allow here
// would let the command run unjudged had anything (a hook after the
// policy, a caller that ignores ctx) carried on. The client is usually
// gone, so the reply is rarely read; 451 is transient, so a client that
// only aborted may retry, and it is the code every other fail-closed
// answer of the policy uses. Not 421, which the engine takes as "close
// the session".
func cancelledDecision(err error) Decision {
	return Decision{Action: Deny, Code: onErrorCode, Message: cancelledMessage, Err: err}
}

// swappedDecision refuses a command whose module was replaced under it
// too often (see maxSwapRetries): fail closed, as while a stored policy
// is being restored, since no module judged it.
func swappedDecision() Decision {
	return Decision{Action: Deny, Code: onErrorCode, Message: swappedMessage, Err: errSwapped}
}

// cancelled counts a call whose caller's context ended before it had an
// instance and returns cancelledDecision. It is not the module's failure:
// a tenant user who opens sessions that hang up while the pool is full
// would otherwise open the tenant's breaker, and with it switch the
// policy off for everybody (on_error allow) or refuse everybody's
// commands (deny). So neither the breaker nor Errors hear of it; the
// Cancelled figure tells an operator the pool keeps callers waiting.
func (r *Runtime) cancelled(ts *tenantState, in *installation, req *abi.Request, err error) Decision {
	ts.stats.cancelled.Add(1)
	r.cfg.Logger.Debug("policy: call cancelled while waiting for an instance", "tenant", req.Tenant,
		"module", in.mod.ShortHash(), "verb", req.Verb, "err", err)
	return cancelledDecision(err)
}

// refuseBusy counts a call that found every instance of the tenant busy for
// InitTimeout and refuses it with 451 whatever OnError says. The module
// did not fail, so neither Errors nor the breaker hear of it; and the
// wait is load a client can make (sessions sending commands against a
// slow module), so answering it with on_error allow would let a user who
// keeps the pool full have his next commands through unjudged. A
// tenant's own users are refused for a moment under such load instead;
// the Busy figure tells the operator.
func (r *Runtime) refuseBusy(ts *tenantState, in *installation, req *abi.Request, err error) Decision {
	ts.stats.busy.Add(1)
	r.cfg.Logger.Warn("policy: every instance busy; command refused", "tenant", req.Tenant,
		"module", in.mod.ShortHash(), "verb", req.Verb, "wait", r.cfg.InitTimeout)
	return Decision{Action: Deny, Code: onErrorCode, Message: busyMessage, Err: err}
}

// failed counts and logs a failure and returns the OnError decision.
func (r *Runtime) failed(ts *tenantState, in *installation, req *abi.Request, err error) Decision {
	var ce *callError
	timeout := errors.As(err, &ce) && ce.timeout
	ts.stats.errors.Add(1)
	if timeout {
		ts.stats.timeouts.Add(1)
	}
	if ts.breaker.failure(r.cfg.Now(), &r.cfg) {
		ts.stats.breakerOpens.Add(1)
		r.cfg.Logger.Error("policy: circuit breaker open", "tenant", req.Tenant, "module", in.mod.ShortHash(), "cooldown", r.cfg.BreakerCooldown)
	}
	r.cfg.Logger.Error("policy: module failed", "tenant", req.Tenant, "module", in.mod.ShortHash(), "verb", req.Verb,
		"timeout", timeout, "on_error", in.settings.OnError.String(), "err", err)
	return in.settings.OnError.decision(err)
}

// Figures returns tenant's figures.
func (r *Runtime) Figures(tenant string) Figures {
	f := Figures{Tenant: tenant}
	ts := r.tenant(tenant, false)
	if ts == nil {
		return f
	}
	s := &ts.stats
	f.Calls, f.Allows, f.Denies, f.Rewrites = s.calls.Load(), s.allows.Load(), s.denies.Load(), s.rewrites.Load()
	f.Errors, f.Timeouts, f.BreakerSkips, f.BreakerOpens = s.errors.Load(), s.timeouts.Load(), s.skipped.Load(), s.breakerOpens.Load()
	f.Cancelled = s.cancelled.Load()
	f.Busy = s.busy.Load()
	f.P50, f.P99 = s.percentile(0.50), s.percentile(0.99)
	f.BreakerOpen = ts.breaker.open(r.cfg.Now())
	if in := ts.cur.Load(); in != nil {
		f.Module = in.mod.Hash
		f.LiveInstances, f.IdleInstances = in.pool.size()
	}
	return f
}

// AllFigures returns every known tenant's figures, sorted by tenant.
func (r *Runtime) AllFigures() []Figures {
	r.mu.RLock()
	ids := make([]string, 0, len(r.tenants))
	for id := range r.tenants {
		ids = append(ids, id)
	}
	r.mu.RUnlock()
	sort.Strings(ids)
	out := make([]Figures, len(ids))
	for i, id := range ids {
		out[i] = r.Figures(id)
	}
	return out
}

// ErrDryRunBusy refuses a dry run while another one of the same tenant
// runs.
var ErrDryRunBusy = errors.New("policy: a dry run of this tenant is already running")

// DryRun evaluates req against m on a fresh instance, without installing
// it and without touching any tenant's figures. It returns the decision
// and, when the module failed, the error (the decision is then what
// settings.OnError would give).
//
// A tenant (req.Tenant) has one dry run at a time; another one meanwhile
// fails at once with ErrDryRunBusy: dry-run instances of a module that is
// not installed are not the pool's, so without this bound a tenant's
// parallel requests would each get an instance (its memory, and a core
// until its deadline). When m is req.Tenant's installed module, the
// instance also takes one of that installation's PoolSize slots, as a live
// call does; with none free within InitTimeout it returns ErrBusy.
func (r *Runtime) DryRun(ctx context.Context, m *Module, s Settings, req *abi.Request) (Decision, error) {
	if !wants(m, req) {
		return Decision{Action: Allow}, nil
	}
	r.schedMu.Lock()
	if r.dryRuns[req.Tenant] {
		r.schedMu.Unlock()
		return Decision{}, ErrDryRunBusy
	}
	r.dryRuns[req.Tenant] = true
	r.schedMu.Unlock()
	defer func() {
		r.schedMu.Lock()
		delete(r.dryRuns, req.Tenant)
		r.schedMu.Unlock()
	}()
	if ts := r.tenant(req.Tenant, false); ts != nil {
		if in := ts.cur.Load(); in != nil && in.mod == m {
			if err := in.pool.borrow(ctx); err != nil {
				if errors.Is(err, errPoolBusy) {
					err = ErrBusy
				}
				return s.OnError.decision(err), err
			}
			defer in.pool.giveBack(ctx)
		}
	}
	if req.NowMillis == 0 {
		req.NowMillis = uint64(r.cfg.Now().UnixMilli())
	}
	buf, err := abi.AppendRequest(nil, req)
	if err != nil {
		return Decision{}, err
	}
	inst, err := r.instantiate(ctx, m, req.Tenant, s.Config)
	if err != nil {
		return s.OnError.decision(err), err
	}
	defer inst.close(ctx)
	resp, err := inst.call(r.cfg.CallTimeout, buf)
	if err == nil {
		var d Decision
		if d, err = decide(resp, req); err == nil {
			return d, nil
		}
	}
	return s.OnError.decision(err), err
}

// opOf is req's operation.
func opOf(req *abi.Request) string {
	if req.Op != "" {
		return req.Op
	}
	return abi.OpOf(req.Verb, req.Arg)
}
