package policy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// signalHandler is a slog.Handler that reports a record's message.
type signalHandler struct{ seen chan string }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "msg" {
			select {
			case h.seen <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// TestPoolBusy: when every instance is busy longer than a caller may
// wait, the caller gets on_error, and the wait is not the module's fault:
// only the stuck call counts as an error.
func TestPoolBusy(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 4)
	r, _ := newTestRuntime(t, Config{PoolSize: 1, CallTimeout: 300 * time.Millisecond, InitTimeout: 20 * time.Millisecond,
		Logger: slog.New(signalHandler{seen: seen})})
	r.Install("t", mustCompile(t, r, testmod.Broken(testmod.LogThenLoop)), Settings{})
	first := make(chan Decision, 1)
	go func() { first <- eval(r, "t", "STOR", "/a") }()
	select {
	case msg := <-seen:
		if !strings.Contains(msg, "looping") {
			t.Fatalf("unexpected log %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first call never started")
	}
	d := eval(r, "t", "STOR", "/b")
	if d.Code != 451 || d.Err == nil || !strings.Contains(d.Err.Error(), "busy") {
		t.Fatalf("second call: %+v (%v)", d, d.Err)
	}
	if f := r.Figures("t"); f.Errors != 0 {
		t.Fatalf("the wait counted as a module error: %+v", f)
	}
	if d := <-first; d.Code != 451 {
		t.Fatalf("first call: %+v", d)
	}
	if f := r.Figures("t"); f.Errors != 1 || f.Timeouts != 1 {
		t.Fatalf("figures: %+v", f)
	}
}

// TestPoolBusyFailsClosed: a full pool is refused with 451 even when the
// tenant's on_error is allow. A user who keeps the tenant's instances
// busy (many sessions' commands against a slow module) must not have his
// next commands let through unjudged: on_error allow is the tenant
// admin's answer to a broken module, not to load a client makes.
func TestPoolBusyFailsClosed(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 4)
	r, _ := newTestRuntime(t, Config{PoolSize: 1, CallTimeout: 300 * time.Millisecond, InitTimeout: 20 * time.Millisecond,
		Logger: slog.New(signalHandler{seen: seen})})
	r.Install("t", mustCompile(t, r, testmod.Broken(testmod.LogThenLoop)), Settings{OnError: OnErrorAllow})
	first := make(chan Decision, 1)
	go func() { first <- eval(r, "t", "STOR", "/a") }()
	select {
	case msg := <-seen:
		if !strings.Contains(msg, "looping") {
			t.Fatalf("unexpected log %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first call never started")
	}
	d := eval(r, "t", "STOR", "/b")
	if d.Action != Deny || d.Code != 451 || !errors.Is(d.Err, errPoolBusy) {
		t.Fatalf("a call that found the pool full under on_error allow: %+v (%v); want a 451 deny", d, d.Err)
	}
	if f := r.Figures("t"); f.Errors != 0 || f.Busy != 1 {
		t.Fatalf("figures after the wait: %+v; want no error and one busy", f)
	}
	// The stuck call itself is the module's failure: on_error applies.
	if d := <-first; d.Action != Allow {
		t.Fatalf("the looping call under on_error allow: %+v", d)
	}
}
