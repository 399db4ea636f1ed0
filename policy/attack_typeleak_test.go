package policy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// liveHeap is the heap in use after two collections, in bytes.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Attack: uploads that are refused still grow the server for good. A
// wazero runtime's store keeps the name of every function type any module
// compiled in it declared, for the runtime's life; with one runtime for
// every tenant, each upload of a module with new types (refused after
// compiling, here for lack of the ABI's exports) left about 400 KB in
// this process, however often the tenant repeats it, and DELETE or a
// refusal never gave it back. Now each module has its own wazero
// runtime, closed with the module.
//
// Not parallel: it measures this process's heap.
func TestAttackRefusedUploadsDoNotAccumulate(t *testing.T) {
	if raceTimeFactor > 1 {
		t.Skip("heap figures under the race detector are not this test's")
	}
	const uploads = 40
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CacheDir: t.TempDir()}, nil)
	put := func(i int) {
		t.Helper()
		// 4,096 types of 8 parameters: at the section caps.
		wasm := attackModule(attackParts{types: distinctTypes(maxTypes-3, maxTypeValues/maxTypes, uint32(i)), nTypes: maxTypes - 3, noExports: true})
		code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", wasm)
		if code != 400 || !strings.Contains(body, "missing export ftpp_abi_v1") {
			t.Fatalf("upload %d: %d %s", i, code, body)
		}
	}
	put(uploads) // warm up: the first compile makes what every later one reuses
	before := liveHeap()
	for i := range uploads {
		put(i)
	}
	after := liveHeap()
	grown := int64(after) - int64(before)
	t.Logf("heap %d -> %d bytes after %d refused uploads", before, after, uploads)
	// Leaking, 40 uploads keep about 16 MB; the bound is a quarter of it.
	if grown > 4<<20 {
		t.Fatalf("%d refused uploads kept %s of heap", uploads, fmt.Sprintf("%.1f MiB", float64(grown)/(1<<20)))
	}
}
