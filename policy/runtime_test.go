package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// logBuffer collects a test runtime's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestRuntime(t testing.TB, cfg Config) (*Runtime, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, logs
}

func mustCompile(t testing.TB, r *Runtime, wasm []byte) *Module {
	t.Helper()
	m, err := r.Compile(context.Background(), wasm, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func eval(r *Runtime, tenant, verb, path string) Decision {
	return r.Evaluate(context.Background(), tenant, &abi.Request{Verb: verb, Path: path, Tenant: tenant, User: "alice"})
}

// TestWATExample checks the hand-assembled module does what the WAT in
// ABI.md says: DELE denied with 550 and its message, STOR capped at 1 MiB,
// other subscribed verbs allowed, unsubscribed verbs never called.
func TestWATExample(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{})
	m := mustCompile(t, r, testmod.Example())
	if got := strings.Join(m.Subscriptions, ","); got != "DELE,STOR" {
		t.Fatalf("subscriptions = %q", got)
	}
	r.Install("acme", m, Settings{})
	d := eval(r, "acme", "DELE", "/a.txt")
	if d.Action != Deny || d.Code != 550 || d.Message != testmod.DenyMessage {
		t.Fatalf("DELE: %+v", d)
	}
	d = eval(r, "acme", "STOR", "/a.txt")
	if d.Action != Allow || !d.HasMax || d.MaxBytes != testmod.ExampleCap {
		t.Fatalf("STOR: %+v", d)
	}
	if d = eval(r, "acme", "RETR", "/a.txt"); d.Action != Allow || d.Called {
		t.Fatalf("RETR (not subscribed): %+v", d)
	}
	if d = eval(r, "other", "DELE", "/a.txt"); d.Action != Allow || d.Called {
		t.Fatalf("another tenant got acme's policy: %+v", d)
	}
	f := r.Figures("acme")
	if f.Calls != 2 || f.Denies != 1 || f.Allows != 1 || f.Errors != 0 || f.P50 <= 0 {
		t.Fatalf("figures: %+v", f)
	}
}

func TestInstallSwapAndRemove(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{})
	r.Install("t", mustCompile(t, r, testmod.Example()), Settings{})
	if d := eval(r, "t", "DELE", "/x"); d.Action != Deny {
		t.Fatalf("before swap: %+v", d)
	}
	r.Install("t", mustCompile(t, r, testmod.Respond(testmod.DenyResponse(553, "v2 says no"), "*")), Settings{})
	if d := eval(r, "t", "DELE", "/x"); d.Code != 553 || d.Message != "v2 says no" {
		t.Fatalf("after swap: %+v", d)
	}
	if !r.Remove("t") {
		t.Fatal("Remove found nothing")
	}
	if d := eval(r, "t", "DELE", "/x"); d.Action != Allow || d.Called {
		t.Fatalf("after remove: %+v", d)
	}
}

func TestRecycleOnMemoryGrowth(t *testing.T) {
	t.Parallel()
	// The call deadline is far above the 50 ms default: the test is about
	// recycling, and a memory.grow under -race on a loaded machine took
	// longer than 50 ms (a deadline error here was a flake, not a bug).
	r, _ := newTestRuntime(t, Config{MemoryLimitPages: 16, PoolSize: 1, CallTimeout: 10 * time.Second})
	r.Install("t", mustCompile(t, r, testmod.Grow(5)), Settings{})
	// Each call grows memory by 5 pages: after the third the instance is
	// past 75 % of 16 pages and must be replaced, so the fourth call does
	// not fail on the limit.
	for i := range 8 {
		if d := eval(r, "t", "NOOP", ""); d.Action != Allow || d.Err != nil {
			t.Fatalf("call %d: %+v (%v)", i, d, d.Err)
		}
	}
}

func TestRecycleAfterCalls(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{MaxCallsPerInstance: 2, PoolSize: 1})
	r.Install("t", mustCompile(t, r, testmod.Example()), Settings{})
	for range 5 {
		eval(r, "t", "DELE", "/x")
	}
	if f := r.Figures("t"); f.Calls != 5 || f.Errors != 0 || f.LiveInstances != 1 {
		t.Fatalf("figures: %+v", f)
	}
}

func TestEvictIdle(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, _ := newTestRuntime(t, Config{Now: clock, IdleTimeout: time.Hour})
	r.Install("t", mustCompile(t, r, testmod.Example()), Settings{})
	eval(r, "t", "DELE", "/x")
	if n := r.EvictIdle(context.Background()); n != 0 {
		t.Fatalf("evicted %d fresh instances", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if n := r.EvictIdle(context.Background()); n != 1 {
		t.Fatalf("evicted %d, want 1", n)
	}
	if d := eval(r, "t", "DELE", "/x"); d.Action != Deny {
		t.Fatalf("after eviction: %+v", d)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{PoolSize: 2})
	r.Install("t", mustCompile(t, r, testmod.Example()), Settings{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if d := eval(r, "t", "DELE", "/x"); d.Code != 550 {
					errs <- errors.New("wrong decision under load")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if f := r.Figures("t"); f.LiveInstances > 2 {
		t.Fatalf("pool grew past its bound: %+v", f)
	}
}
