package policy

import (
	"bytes"
	"net/http"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
)

// fillAndSpin is a policy whose _initialize writes all of its 16 MiB
// memory and whose ftpp_check never returns: every instance holds 16 MiB
// and a core until its call deadline.
func fillAndSpin() []byte {
	const mib16 = 16 << 20
	void := w.FuncType{}
	return (&w.Module{
		MemoryMin:    256,
		MemoryExport: "memory",
		Funcs: []w.Func{
			{Export: "ftpp_abi_v1", Type: void, Body: []byte{w.OpEnd}},
			{Export: "ftpp_alloc", Type: w.FuncType{Params: []byte{w.I32}, Results: []byte{w.I32}}, Body: w.Ops(w.I32Const(1024), []byte{w.OpEnd})},
			{Export: "ftpp_check", Type: w.FuncType{Params: []byte{w.I32, w.I32}, Results: []byte{w.I64}},
				Body: []byte{w.OpLoop, w.BlockVoid, w.OpBr, 0, w.OpEnd, w.OpUnreachable, w.OpEnd}},
			{Export: "_initialize", Type: void,
				Body: w.Ops(w.I32Const(0), w.I32Const(1), w.I32Const(mib16), []byte{0xfc, 11, 0, w.OpEnd})},
		},
	}).Bytes()
}

// heapObjects reads the bytes of live and unswept heap objects.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Attack: dry runs step around the per-tenant instance bound. A call of
// an installed policy runs on one of at most PoolSize instances of the
// tenant, so that one tenant's policy cannot take every core and much
// memory; POST .../policy/check made a fresh instance per request, with no
// bound at all, so a tenant admin sending requests in parallel got as
// many instances as requests: here 16 at 16 MiB each and a spinning core
// each until the call deadline. Now a tenant has one dry run at a time; a
// second one meanwhile gets 429 with Retry-After.
//
// Not parallel: it measures this process's heap.
func TestAttackDryRunsAreBounded(t *testing.T) {
	if raceTimeFactor > 1 {
		t.Skip("heap figures under the race detector are not this test's")
	}
	// A call deadline an operator may well choose; with the default 50 ms
	// the attack costs the same, spread over more requests.
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CacheDir: t.TempDir(), CallTimeout: 2 * time.Second}, nil)
	if code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", fillAndSpin()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	liveHeap()
	base := heapObjects()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	const requests = 16
	var wg sync.WaitGroup
	codes := make([]int, requests)
	for i := range requests {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", f.srv.URL+"/v1/tenants/acme/policy/check", bytes.NewReader([]byte(`{"verb":"STOR","path":"/a"}`)))
			req.Header.Set("Authorization", "Bearer acme-secret")
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	grown := int64(peak.Load()) - int64(base)
	t.Logf("statuses %v; heap peak %+.0f MiB", codes, float64(grown)/(1<<20))
	// One instance is 16 MiB; the fix allows one at a time, the attack
	// had up to 16. The bound leaves room for garbage not yet collected.
	if grown > 96<<20 {
		t.Fatalf("%d parallel dry runs held %.0f MiB at once", requests, float64(grown)/(1<<20))
	}
}
