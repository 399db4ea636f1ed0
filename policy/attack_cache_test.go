package policy

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
)

// loadsModule is an ABI-shaped module of funcs functions, each of
// perFunc bytes of `i32.const 0; i32.load; drop`: about ten bytes of
// machine code per byte of wasm, so its compiled code is large for its
// size. seed varies a nop so that every seed is another module.
func loadsModule(funcs, perFunc int, seed byte) []byte {
	chunk := []byte{0x41, 0, 0x28, 2, 0, 0x1a}
	return wasmgen.Module(funcs, func(int) int { return perFunc }, func(i int, b []byte) []byte {
		b = append(b, 0) // no locals
		k := (perFunc - 2) / len(chunk)
		for j := range k {
			b = append(b, chunk...)
			if i == 0 && j == 0 {
				b[len(b)-5] = seed & 0x3f // i32.const seed: another module
			}
		}
		for range perFunc - 2 - k*len(chunk) {
			b = append(b, 0x01)
		}
		return append(b, 0x0b)
	})
}

// Attack: fill the disk through the compilation cache. The compile child
// writes each module's machine code (about ten bytes per byte of wasm for
// this shape) into the cache directory, one entry per distinct upload
// (change one byte), refused, replaced or deleted alike: had the entries
// stayed, one tenant would write gigabytes an hour to the disk the server
// shares.
//
// Bound: nothing per upload. Each compile has a private directory in the
// cache directory, removed once this process has loaded the code, so
// after any number of uploads (replacing each other, one refused after
// compiling) and a DELETE, no file is left, and the installed module
// kept working without its directory.
func TestAttackCacheDirGrowsWithEveryUpload(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CacheDir: cache}, nil)
	var compiled atomic.Int32
	f.rt.testChildDone = func(string) { compiled.Add(1) }
	const uploads = 3
	for i := range uploads {
		if code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", loadsModule(2, 50_000, byte(i))); code != 200 {
			t.Fatalf("PUT %d: %d %s", i, code, body)
		}
		if left := cacheFiles(t, cache); len(left) != 0 {
			t.Fatalf("after upload %d the cache directory holds %v", i, left)
		}
		if d := eval(f.rt, "acme", "DELE", "/a"); !d.Called || d.Err != nil || d.Action != Allow {
			t.Fatalf("upload %d installed, its compile directory removed: %+v", i, d)
		}
	}
	// Compiles, then refused: no ftpp_check.
	refused := bytes.Replace(loadsModule(2, 50_000, 9), []byte("ftpp_check"), []byte("ftpp_chexk"), 1)
	if code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", refused); code != 400 || !strings.Contains(body, "ftpp_check") {
		t.Fatalf("PUT refused module: %d %s", code, body)
	}
	if code, body := f.do("DELETE", "/v1/tenants/acme/policy", "acme-secret", nil); code != 204 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if n := compiled.Load(); n != uploads+1 {
		t.Fatalf("%d child compiles, want %d", n, uploads+1)
	}
	if left := cacheFiles(t, cache); len(left) != 0 {
		t.Fatalf("the cache directory holds %v after %d uploads and a DELETE", left, uploads+1)
	}
}
