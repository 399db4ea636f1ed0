package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestHostileAtRuntime installs modules that misbehave when called. Each
// must yield the tenant's on_error decision (451 by default), be logged
// with the module's hash, and leave the runtime serving another tenant.
func TestHostileAtRuntime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		wasm    []byte
		timeout bool
		logged  string
		anyKind bool // the failure may be a trap or the deadline
	}{
		{"infinite loop", testmod.Loop(), true, "deadline", false},
		{"trap", testmod.Trap(), false, "unreachable", false},
		{"memory bomb", testmod.MemoryBomb(), false, "module failed", true},
		{"huge response", testmod.ReturnPacked(testmod.PackedForTest(0, 60000)), false, "exceeds the 4096-byte limit", false},
		{"response outside memory", testmod.ReturnPacked(testmod.PackedForTest(65000, 4000)), false, "outside the guest", false},
		{"rewrite to ../../", testmod.Respond(rewriteResp("/../../etc/passwd"), "*"), false, "climbs above", false},
		{"relative rewrite", testmod.Respond(rewriteResp("../x"), "*"), false, "not absolute", false},
		{"unknown action", testmod.Respond([]byte{1, 1, 0, 7}, "*"), false, "unknown action", false},
		{"truncated response", testmod.Respond([]byte{3, 50, 0, 'x'}, "*"), false, "truncated", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Only the loop needs the short deadline; for the others it is
			// an upper bound that a loaded machine must not reach.
			deadline := 10 * time.Second
			if c.timeout || c.anyKind {
				deadline = 20 * time.Millisecond
			}
			r, logs := newTestRuntime(t, Config{CallTimeout: deadline, MemoryLimitPages: 64})
			m := mustCompile(t, r, c.wasm)
			r.Install("evil", m, Settings{})
			r.Install("good", mustCompile(t, r, testmod.Example()), Settings{})
			start := time.Now()
			d := eval(r, "evil", "STOR", "/a")
			if d.Action != Deny || d.Code != 451 || d.Err == nil {
				t.Fatalf("decision %+v, want the 451 on_error deny", d)
			}
			if c.timeout && time.Since(start) > 2*time.Second {
				t.Fatalf("deadline not enforced: %v", time.Since(start))
			}
			f := r.Figures("evil")
			if f.Errors != 1 || (!c.anyKind && (f.Timeouts == 1) != c.timeout) || f.LiveInstances != 0 {
				t.Fatalf("figures %+v", f)
			}
			if l := logs.String(); !strings.Contains(l, c.logged) || !strings.Contains(l, m.ShortHash()) {
				t.Fatalf("log lacks %q or the module hash:\n%s", c.logged, l)
			}
			if d := eval(r, "good", "DELE", "/a"); d.Code != 550 {
				t.Fatalf("another tenant after the failure: %+v", d)
			}
			// The evil module gets a fresh instance and fails the same way.
			if d := eval(r, "evil", "STOR", "/a"); d.Code != 451 {
				t.Fatalf("second call: %+v", d)
			}
		})
	}
}

func rewriteResp(p string) []byte {
	return abi.AppendResponse(nil, &abi.Response{Action: abi.ActionRewrite, NewPath: p, HasNewPath: true})
}

func TestOnErrorAllow(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{})
	r.Install("t", mustCompile(t, r, testmod.Trap()), Settings{OnError: OnErrorAllow})
	if d := eval(r, "t", "DELE", "/a"); d.Action != Allow || d.Err == nil {
		t.Fatalf("on_error allow: %+v", d)
	}
}

// TestForgedReply: a deny message with CRLF and a fake second reply comes
// out as one clean line.
func TestForgedReply(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{})
	msg := "no\r\n230 Login successful.\x00\x1b[31m" + strings.Repeat("x", 300)
	r.Install("t", mustCompile(t, r, testmod.Respond(testmod.DenyResponse(200, msg), "*")), Settings{})
	d := eval(r, "t", "DELE", "/a")
	if d.Action != Deny || d.Code != 550 {
		t.Fatalf("decision %+v: a 200 code must become 550", d)
	}
	if strings.ContainsAny(d.Message, "\r\n\x00\x1b") || len(d.Message) > abi.MaxMessageLen || !strings.HasPrefix(d.Message, "no230 Login successful.[31m") {
		t.Fatalf("message not cleaned: %q", d.Message)
	}
}

func TestRewriteInsideTenant(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{})
	r.Install("t", mustCompile(t, r, testmod.Respond(rewriteResp("/q//./sub/../x.bin"), "*")), Settings{})
	if d := eval(r, "t", "STOR", "/in/x.bin"); d.Action != Rewrite || d.Path != "/q/x.bin" {
		t.Fatalf("decision %+v", d)
	}
	// A rewrite of a command without a path is a policy error.
	if d := eval(r, "t", "NOOP", ""); d.Code != 451 {
		t.Fatalf("rewrite of NOOP: %+v", d)
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	r, logs := newTestRuntime(t, Config{Now: clock, BreakerErrors: 3, BreakerWindow: time.Minute, BreakerCooldown: 30 * time.Second})
	r.Install("t", mustCompile(t, r, testmod.Trap()), Settings{})
	for range 3 {
		eval(r, "t", "DELE", "/a")
	}
	f := r.Figures("t")
	if !f.BreakerOpen || f.BreakerOpens != 1 || f.Calls != 3 {
		t.Fatalf("after 3 errors: %+v", f)
	}
	if d := eval(r, "t", "DELE", "/a"); d.Code != 451 || !errors.Is(d.Err, errBreakerOpen) {
		t.Fatalf("while open: %+v", d)
	}
	if f := r.Figures("t"); f.Calls != 3 || f.BreakerSkips != 1 {
		t.Fatalf("module called while the breaker was open: %+v", f)
	}
	if !strings.Contains(logs.String(), "circuit breaker open") {
		t.Fatal("breaker opening not logged")
	}
	// Installing a fixed module closes the breaker at once.
	r.Install("t", mustCompile(t, r, testmod.Example()), Settings{})
	if d := eval(r, "t", "DELE", "/a"); d.Code != 550 {
		t.Fatalf("after a new module: %+v", d)
	}
}

// TestHostileUploads: modules that must be refused at upload, each with a
// reason that says why.
func TestHostileUploads(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{MaxModuleSize: 1 << 20, MemoryLimitPages: 64})
	bigMin := testmod.Policy(testmod.ReturnsForTest(0), "")
	bigMin.MemoryMin = 65
	cases := []struct {
		name, wasm, reason string
	}{
		{"garbage", "this is not wasm at all", "not a WebAssembly module"},
		{"truncated", string(testmod.Example()[:40]), "exceeds the 2 bytes left"},
		// Declared counts that would make the decoder allocate gigabytes.
		{"function count bomb", "\x00asm\x01\x00\x00\x00\x03\x05\xff\xff\xff\xff\x0f", "vector of 4294967295 elements"},
		{"data length bomb", "\x00asm\x01\x00\x00\x00\x0b\x08\x01\x01\xff\xff\xff\xff\x0f\x00", "size 4294967295 exceeds"},
		{"locals bomb", "\x00asm\x01\x00\x00\x00\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b", "declares 4294967295 locals; the limit is 4096 per function"},
		{"name length bomb", "\x00asm\x01\x00\x00\x00\x00\x06\xff\xff\xff\xff\x0f\x00", "exceeds"},
		{"oversized", string(testmod.Padded(1<<20 + 1)), "the limit is 1048576"},
		{"missing check", string(testmod.Broken(testmod.NoCheck)), "missing required export ftpp_check"},
		{"missing marker", string(testmod.Broken(testmod.NoMarker)), "missing export ftpp_abi_v1"},
		{"abi v2", string(testmod.Broken(testmod.MarkerV2)), "ABI v2"},
		{"no memory", string(testmod.Broken(testmod.NoMemory)), `missing export "memory"`},
		{"forbidden import", string(testmod.Broken(testmod.ForbiddenImport)), "import env.system is not allowed"},
		{"bad subscriptions", string(testmod.Broken(testmod.BadSubs)), `"ST*R" is not a verb`},
		{"init fails", string(testmod.Broken(testmod.InitFails)), "ftpp_init returned non-zero"},
		{"wrong type", string(testmod.Broken(testmod.WrongCheckType)), "export ftpp_check has type (i32) -> (i32)"},
		{"memory over the limit", string(bigMin.Bytes()), "compile"},
		{"huge table", string(testmod.Broken(testmod.HugeTable)), "tables declare more than"},
	}
	for _, c := range cases {
		_, err := r.Compile(context.Background(), []byte(c.wasm), nil)
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Reason, c.reason) {
			t.Errorf("%s: err = %v, want a ValidationError containing %q", c.name, err, c.reason)
		}
	}
	if _, err := r.Compile(context.Background(), testmod.Broken(testmod.SmallTable), nil); err != nil {
		t.Errorf("a small table was refused: %v", err)
	}
	// The runtime still compiles and runs good modules.
	r.Install("t", mustCompile(t, r, testmod.Example()), Settings{})
	if d := eval(r, "t", "DELE", "/a"); d.Code != 550 {
		t.Fatalf("after the bad uploads: %+v", d)
	}
}

func TestGuestLog(t *testing.T) {
	t.Parallel()
	r, logs := newTestRuntime(t, Config{})
	m := mustCompile(t, r, testmod.Broken(testmod.LogImport))
	r.Install("t", m, Settings{})
	eval(r, "t", "NOOP", "")
	if l := logs.String(); !strings.Contains(l, "hellofrom wasm") || !strings.Contains(l, "tenant=t") {
		t.Fatalf("guest log line missing or not cleaned:\n%s", l)
	}
}

func TestParseSubscriptions(t *testing.T) {
	t.Parallel()
	if v, err := ParseSubscriptions(" stor, DELE ,STOR"); err != nil || strings.Join(v, ",") != "STOR,DELE" {
		t.Fatalf("got %v, %v", v, err)
	}
	if v, err := ParseSubscriptions("*"); err != nil || v != nil {
		t.Fatalf("* gave %v, %v", v, err)
	}
	for _, bad := range []string{"", ",", "ST", "STORE", "ST0R"} {
		if _, err := ParseSubscriptions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCleanRewrite(t *testing.T) {
	t.Parallel()
	good := map[string]string{"/a/b/../c": "/a/c", "/": "/", "//x//": "/x", "/a/./b/": "/a/b"}
	for in, want := range good {
		if got, err := CleanRewrite(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a", "", "/..", "/a/../../b", "/a\x00b", "/a\nb", "/\xff"} {
		if _, err := CleanRewrite(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzCompile feeds arbitrary bytes to upload validation: it must answer
// with a module or an error, never crash or hang.
func FuzzCompile(f *testing.F) {
	f.Add(testmod.Example())
	f.Add(testmod.Broken(testmod.NoCheck))
	f.Add(testmod.Broken(testmod.ForbiddenImport))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	// Short deadlines: a fuzzed start function may loop, and the fuzzing
	// engine counts a worker silent for a second as hung.
	r, _ := newTestRuntime(f, Config{MemoryLimitPages: 16, InitTimeout: 100 * time.Millisecond, CallTimeout: 20 * time.Millisecond})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := r.Compile(context.Background(), b, nil)
		if err == nil {
			_ = m.Close(context.Background())
		}
	})
}
