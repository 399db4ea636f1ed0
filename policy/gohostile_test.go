package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/policytest"
)

var builder policytest.Builder

// TestGoHostile: a Go guest that panics, runs out of memory or loops gets
// the 451 on_error decision each time, its instance is replaced, and the
// same module keeps answering other verbs.
func TestGoHostile(t *testing.T) {
	t.Parallel()
	wasm := builder.Build(t, "testdata/gohostile")
	r, logs := newTestRuntime(t, Config{CallTimeout: 100 * time.Millisecond, InitTimeout: 30 * time.Second, MemoryLimitPages: 256})
	m := mustCompile(t, r, wasm)
	r.Install("t", m, Settings{})
	for _, c := range []struct{ verb, logged string }{
		{"DELE", "index out of range"},
		{"STOR", "verb=STOR"}, // out of memory, or the deadline while the GC struggles
		{"RETR", "deadline"},
	} {
		if d := eval(r, "t", c.verb, "/a"); d.Code != 451 || d.Err == nil {
			t.Fatalf("%s: %+v", c.verb, d)
		}
		if !strings.Contains(logs.String(), c.logged) {
			t.Fatalf("%s: log lacks %q:\n%s", c.verb, c.logged, logs.String())
		}
		if d := eval(r, "t", "NOOP", ""); d.Action != Allow || d.Err != nil {
			t.Fatalf("NOOP after %s: %+v (%v)", c.verb, d, d.Err)
		}
	}
	if f := r.Figures("t"); f.Errors != 3 || f.Timeouts < 1 {
		t.Fatalf("figures %+v", f)
	}
}
