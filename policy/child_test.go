package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// cacheFiles maps each file under dir to its inode.
func cacheFiles(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.Sys().(*syscall.Stat_t).Ino
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChildCompileCacheHit: with ChildCompile the child generates the
// code and this process loads it from the cache. wazero's file cache
// writes an entry through a new file renamed into place, so a miss in
// this process would change the entry's inode: the entries the child
// left must be exactly those after the compile. The module then works.
func TestChildCompileCacheHit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, _ := newTestRuntime(t, Config{ChildCompile: true, CacheDir: dir})
	var afterChild map[string]uint64
	r.testChildDone = func() { afterChild = cacheFiles(t, dir) }
	m := mustCompile(t, r, testmod.Example())
	if len(afterChild) == 0 {
		t.Fatalf("the child left nothing in the cache")
	}
	after := cacheFiles(t, dir)
	if len(after) != len(afterChild) {
		t.Fatalf("cache entries after the child %v, after the compile %v", afterChild, after)
	}
	for p, ino := range afterChild {
		if after[p] != ino {
			t.Fatalf("%s rewritten by this process: a cache miss", p)
		}
	}
	r.Install("acme", m, Settings{})
	if d := eval(r, "acme", "DELE", "/a"); d.Code != 550 {
		t.Fatalf("module compiled by the child: %+v", d)
	}
}

// TestChildCompilePrivateCache: without CacheDir the runtime keeps the
// child's cache in a temporary directory it removes on Close.
func TestChildCompilePrivateCache(t *testing.T) {
	t.Parallel()
	r, err := NewRuntime(context.Background(), Config{ChildCompile: true})
	if err != nil {
		t.Fatal(err)
	}
	mustCompile(t, r, testmod.Example())
	dir := r.cacheDir
	if !strings.Contains(dir, "ftpgate-policy-cache-") || len(cacheFiles(t, dir)) == 0 {
		t.Fatalf("private cache %q", dir)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("private cache left behind: %v", err)
	}
}

// wantRefused asserts err is a *ValidationError whose reason has want.
func wantRefused(t *testing.T, err error, want string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, want) {
		t.Fatalf("got %v, want a refusal with %q", err, want)
	}
}

// TestChildCompileBounds: a compile over its memory, CPU or wall-clock
// bound is stopped and refused with the bound's name; a module wazero
// refuses gets wazero's reason, as in process.
func TestChildCompileBounds(t *testing.T) {
	t.Parallel()
	// Within every static cap, but compiling it takes minutes and
	// gigabytes (bench/README.md).
	hostile := wasmgen.LiveAcrossBranches(1, 4096, 4000)
	ctx := context.Background()
	t.Run("memory", func(t *testing.T) {
		r, logs := newTestRuntime(t, Config{ChildCompile: true, CompileMemory: 64 << 20, MaxModuleSize: 1 << 20})
		_, err := r.CompileTenant(ctx, "acme", hostile, nil)
		wantRefused(t, err, "memory bound of 64 MiB")
		if !strings.Contains(logs.String(), "tenant=acme") {
			t.Fatalf("not logged:\n%s", logs)
		}
	})
	t.Run("cpu", func(t *testing.T) {
		r, _ := newTestRuntime(t, Config{ChildCompile: true, CompileMemory: 2 << 30, CompileCPU: time.Second,
			CompileTimeout: 10 * time.Minute, MaxModuleSize: 1 << 20})
		_, err := r.Compile(ctx, hostile, nil)
		wantRefused(t, err, "CPU bound of 1 s")
	})
	t.Run("time", func(t *testing.T) {
		r, _ := newTestRuntime(t, Config{ChildCompile: true, CompileMemory: 2 << 30, CompileCPU: 10 * time.Minute,
			CompileTimeout: 300 * time.Millisecond, MaxModuleSize: 1 << 20})
		_, err := r.Compile(ctx, hostile, nil)
		wantRefused(t, err, "time bound of 300ms")
	})
	t.Run("invalid", func(t *testing.T) {
		// A () -> () function that leaves an i32 on the stack.
		bad := wasmgen.Module(1, func(int) int { return 4 }, func(_ int, dst []byte) []byte {
			return append(dst, 0, 0x41, 0, 0x0b)
		})
		in, _ := newTestRuntime(t, Config{})
		_, want := in.Compile(ctx, bad, nil)
		r, _ := newTestRuntime(t, Config{ChildCompile: true})
		_, err := r.Compile(ctx, bad, nil)
		if want == nil || err == nil || err.Error() != want.Error() {
			t.Fatalf("child: %v; in process: %v", err, want)
		}
	})
}
