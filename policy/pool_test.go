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
// wait, the caller is refused with 451 whatever on_error says, and the
// wait is not the module's fault: only the stuck call counts as an error
// (and gets on_error). Under on_error allow, an Allow for the waiting
// call would let a user who keeps the tenant's instances busy (many
// sessions' commands against a slow module) have his next commands
// through unjudged: on_error allow is the tenant admin's answer to a
// broken module, not to load a client makes.
func TestPoolBusy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		onError OnError
		stuck   Action // what the looping call itself gets: on_error
	}{{OnErrorDeny, Deny}, {OnErrorAllow, Allow}} {
		t.Run(tc.onError.String(), func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 4)
			r, _ := newTestRuntime(t, Config{PoolSize: 1, CallTimeout: 300 * time.Millisecond, InitTimeout: 20 * time.Millisecond,
				Logger: slog.New(signalHandler{seen: seen})})
			r.Install("t", mustCompile(t, r, testmod.Broken(testmod.LogThenLoop)), Settings{OnError: tc.onError})
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
				t.Fatalf("a call that found the pool full: %+v (%v); want a 451 deny", d, d.Err)
			}
			if f := r.Figures("t"); f.Errors != 0 || f.Busy != 1 {
				t.Fatalf("figures after the wait: %+v; want no error and one busy", f)
			}
			if d := <-first; d.Action != tc.stuck {
				t.Fatalf("the looping call: %+v; want %v (on_error)", d, tc.stuck)
			}
			if f := r.Figures("t"); f.Errors != 1 || f.Timeouts != 1 {
				t.Fatalf("figures: %+v", f)
			}
		})
	}
}
