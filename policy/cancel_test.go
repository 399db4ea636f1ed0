package policy

import (
	"context"
	"errors"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// breakerTestConfig opens the breaker after 3 errors; InitTimeout is far
// beyond the test's own deadline so that a wait for a slot ends by the
// caller's context, never by errPoolBusy.
func breakerTestConfig() Config {
	now := time.Unix(1_700_000_000, 0)
	return Config{
		Now: func() time.Time { return now }, PoolSize: 1, InitTimeout: 10 * time.Minute,
		BreakerErrors: 3, BreakerWindow: time.Minute, BreakerCooldown: 30 * time.Second,
	}
}

// denyAll is a module that refuses every command with 550 "no".
func denyAll() []byte { return testmod.Respond(denyResp, "*") }

// evalCtx is eval with the caller's context.
func evalCtx(ctx context.Context, r *Runtime, tenant string) Decision {
	return r.Evaluate(ctx, tenant, &abi.Request{Verb: "DELE", Path: "/a", Tenant: tenant, User: "mallory"})
}

// checkCancelled asserts d is the answer to a caller gone while waiting:
// 451, whatever on_error says, never an unjudged Allow.
func checkCancelled(t *testing.T, i int, d Decision) {
	t.Helper()
	if d.Action != Deny || d.Code != 451 || d.Called || !errors.Is(d.Err, errCallerGone) || !errors.Is(d.Err, context.Canceled) {
		t.Errorf("cancelled call %d: %+v (err %v); want a 451 deny from the host", i, d, d.Err)
	}
}

// checkStillJudged asserts the tenant's breaker never opened and that the
// deny-all module, under on_error allow, still judges the next command.
func checkStillJudged(t *testing.T, r *Runtime, cancelled int) {
	t.Helper()
	f := r.Figures("t")
	if f.BreakerOpen || f.BreakerOpens != 0 || f.Errors != 0 || f.Timeouts != 0 || f.Cancelled != uint64(cancelled) {
		t.Errorf("after %d cancelled calls: %+v; want the breaker closed, no errors, Cancelled %d", cancelled, f, cancelled)
	}
	if d := eval(r, "t", "DELE", "/a"); d.Action != Deny || d.Code != 550 || !d.Called || d.Err != nil {
		t.Fatalf("next command after the cancelled ones: %+v (err %v); want the module's 550", d, d.Err)
	}
}

// TestCancelledWaitIsNotModuleFailure: a tenant user whose sessions hang
// up while every instance of the tenant's pool is busy must not open the
// tenant's breaker; with on_error allow that would switch the tenant
// admin's policy off for everybody for the cooldown.
func TestCancelledWaitIsNotModuleFailure(t *testing.T) {
	t.Parallel()
	cfg := breakerTestConfig()
	r, _ := newTestRuntime(t, cfg)
	r.Install("t", mustCompile(t, r, denyAll()), Settings{OnError: OnErrorAllow})
	if d := eval(r, "t", "DELE", "/a"); d.Action != Deny || d.Code != 550 {
		t.Fatalf("deny-all module before the attack: %+v", d)
	}

	// The pool's one slot is taken, as by a call in flight: every call now
	// waits for it.
	p := r.tenant("t", false).cur.Load().pool
	p.slots <- struct{}{}
	released := false
	release := func() {
		if !released {
			released = true
			<-p.slots
		}
	}
	defer release()

	n := cfg.BreakerErrors + 1
	// Half the calls come with a context already ended (the wait's select
	// then sees only ctx.Done ready: deterministic); the others are
	// cancelled once started, wherever they are by then (in the wait or
	// before it, the answer must be the same).
	deadline := time.After(30 * time.Second)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 0 {
			cancel()
			checkCancelled(t, i, evalCtx(ctx, r, "t"))
			continue
		}
		done := make(chan Decision, 1)
		go func() { done <- evalCtx(ctx, r, "t") }()
		cancel()
		select {
		case d := <-done:
			checkCancelled(t, i, d)
		case <-deadline:
			t.Fatalf("cancelled call %d still waiting", i)
		}
	}
	release()
	checkStillJudged(t, r, n)
}

// denyAllWithInit is denyAll with a ftpp_init that succeeds (returns 0):
// wazero refuses to start a call on a context already ended, so making
// an instance of it fails on a dead context and only there.
func denyAllWithInit() []byte {
	m := testmod.Policy(w.Ops(w.I64Const(w.Packed(256, uint32(len(denyResp)))), w.Op(w.OpEnd)), "*",
		w.Data{Offset: 256, Bytes: denyResp})
	m.Funcs = append(m.Funcs, w.Func{Export: abi.ExportInit,
		Type: w.FuncType{Params: []byte{w.I32, w.I32}, Results: []byte{w.I32}},
		Body: w.Ops(w.I32Const(0), w.Op(w.OpEnd))})
	return m.Bytes()
}

var denyResp = testmod.DenyResponse(550, "no")

// TestCancelledInstantiateIsNotModuleFailure: with a slot free but no
// idle instance, a call whose context has ended makes an instance on a
// dead context, which fails in ftpp_init; that failure is the caller's,
// not the module's.
func TestCancelledInstantiateIsNotModuleFailure(t *testing.T) {
	t.Parallel()
	cfg := breakerTestConfig()
	r, _ := newTestRuntime(t, cfg)
	r.Install("t", mustCompile(t, r, denyAllWithInit()), Settings{OnError: OnErrorAllow})
	n := cfg.BreakerErrors + 1
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d := evalCtx(ctx, r, "t")
		if live, idle := r.tenant("t", false).cur.Load().pool.size(); live != 0 || idle != 0 {
			t.Fatalf("call %d on a dead context left %d live, %d idle instances", i, live, idle)
		}
		checkCancelled(t, i, d)
	}
	checkStillJudged(t, r, n)
}

// TestSwapRetriesBounded: a call that finds its module replaced while it
// waited asks the new one, but not without end: a tenant admin token that
// swaps modules continuously gets the command refused (451) after
// maxSwapRetries, never unbounded recursion. The pool is marked retired
// while it stays the tenant's current one, which is what a call sees when
// a new module is installed during each of its waits.
func TestSwapRetriesBounded(t *testing.T) {
	// Without the bound the call recursed until the goroutine's stack
	// limit killed the test binary; a small limit makes that quick rather
	// than a gigabyte of stack. Not parallel: the limit is the process's.
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20))
	cfg := breakerTestConfig()
	r, _ := newTestRuntime(t, cfg)
	r.Install("t", mustCompile(t, r, denyAll()), Settings{OnError: OnErrorAllow})
	p := r.tenant("t", false).cur.Load().pool
	p.mu.Lock()
	p.retired = true
	p.mu.Unlock()

	done := make(chan Decision, 1)
	go func() { done <- eval(r, "t", "DELE", "/a") }()
	select {
	case d := <-done:
		if d.Action != Deny || d.Code != 451 || d.Called || !errors.Is(d.Err, errSwapped) {
			t.Fatalf("call under endless swaps: %+v (err %v); want a 451 deny", d, d.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("call under endless swaps did not return")
	}
	if f := r.Figures("t"); f.BreakerOpen || f.Errors != 0 {
		t.Fatalf("swaps counted as the module's failures: %+v", f)
	}
}

// TestSwapWhileWaitingAsksNewModule: a call waiting for an instance when a
// new module is installed is judged by the new module.
func TestSwapWhileWaitingAsksNewModule(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, breakerTestConfig())
	allowAll := testmod.Respond(abi.AppendResponse(nil, &abi.Response{Action: abi.ActionAllow}), "*")
	r.Install("t", mustCompile(t, r, allowAll), Settings{OnError: OnErrorAllow})
	p := r.tenant("t", false).cur.Load().pool
	p.slots <- struct{}{} // a call in flight on the old module
	done := make(chan Decision, 1)
	go func() { done <- eval(r, "t", "DELE", "/a") }()
	r.Install("t", mustCompile(t, r, denyAll()), Settings{OnError: OnErrorAllow})
	<-p.slots // the call in flight ends
	select {
	case d := <-done:
		if d.Action != Deny || d.Code != 550 || !d.Called {
			t.Fatalf("call across a swap: %+v (err %v); want the new module's 550", d, d.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("call across a swap did not return")
	}
}
