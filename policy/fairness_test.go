package policy

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// releaser returns a channel and a function closing it, which is safe to
// call twice; tests also register it as a cleanup after their fixture's,
// so that a failing test does not hang closing a server on a held compile.
func releaser() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(ch) }) }
	return ch, release
}

// holdTenant makes the first compile child of tenant block, once
// started, until release is closed; started receives the tenant then.
func holdTenant(tenant string, started chan<- string, release <-chan struct{}) func(*Runtime) {
	return func(r *Runtime) {
		var first atomic.Bool
		r.testChildStarted = func(t string) {
			if t == tenant && first.CompareAndSwap(false, true) {
				started <- t
				<-release
			}
		}
	}
}

// TestAdminCompileFairness: while acme's hostile upload compiles, acme's
// second upload is refused at once with 429, a JSON error and
// Retry-After, and globex's valid upload is compiled and installed on the
// other worker.
func TestAdminCompileFairness(t *testing.T) {
	t.Parallel()
	started := make(chan string, 1)
	held, release := releaser()
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CompileWorkers: 2, CompileMemory: 64 << 20,
		MaxModuleSize: 1 << 20}, holdTenant("acme", started, held))
	t.Cleanup(release)
	hostile := wasmgen.LiveAcrossBranches(1, 4096, 4000)
	type reply struct {
		code int
		body string
	}
	first := make(chan reply, 1)
	go func() {
		code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", hostile)
		first <- reply{code, body}
	}()
	<-started
	resp, body := f.doResp("PUT", "/v1/tenants/acme/policy", "acme-secret", testmod.Example())
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `"code":"upload_in_progress"`) {
		t.Fatalf("second upload while the first compiles: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if code, body := f.do("PUT", "/v1/tenants/globex/policy", "globex-secret", testmod.Example()); code != 200 {
		t.Fatalf("another tenant's upload while acme compiles: %d %s", code, body)
	}
	if d := eval(f.rt, "globex", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("globex's policy: %+v", d)
	}
	release()
	if got := <-first; got.code != 400 || !strings.Contains(got.body, "memory bound") {
		t.Fatalf("hostile upload: %d %s", got.code, got.body)
	}
	// Done: acme may upload again.
	if code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", testmod.Example()); code != 200 {
		t.Fatalf("acme after its compile ended: %d %s", code, body)
	}
}

// TestAdminCompileQueue: with one worker held and the queue (one place)
// taken, a third tenant's upload is refused with 503 and Retry-After; the
// queued one is served once the worker is free.
func TestAdminCompileQueue(t *testing.T) {
	t.Parallel()
	started := make(chan string, 1)
	held, release := releaser()
	queued := make(chan string, 1)
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CompileWorkers: 1, CompileQueue: 1,
		MaxModuleSize: 64 << 10}, func(r *Runtime) {
		holdTenant("acme", started, held)(r)
		r.testQueued = func(t string) { queued <- t }
	})
	t.Cleanup(release)
	codes := make(chan int, 2)
	put := func(tenant string) {
		code, _ := f.do("PUT", "/v1/tenants/"+tenant+"/policy", tenant+"-secret", testmod.Example())
		codes <- code
	}
	go put("acme")
	<-started
	go put("globex")
	if got := <-queued; got != "globex" {
		t.Fatalf("queued: %s", got)
	}
	resp, body := f.doResp("PUT", "/v1/tenants/initech/policy", "op-secret", testmod.Example())
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many uploads") {
		t.Fatalf("upload over the queue: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	release()
	if a, b := <-codes, <-codes; a != 200 || b != 200 {
		t.Fatalf("held and queued uploads: %d %d", a, b)
	}
}
