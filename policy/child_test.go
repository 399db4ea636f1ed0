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
// code into a directory private to the compile and this process loads it
// from there. wazero's file cache writes an entry through a new file
// renamed into place, so a miss in this process would change the entry's
// inode: the entries the child left must be exactly those after this
// process compiled. The directory is gone once Compile returns, and the
// module, installed, still works.
func TestChildCompileCacheHit(t *testing.T) {
	t.Parallel()
	cacheDir := t.TempDir()
	r, _ := newTestRuntime(t, Config{ChildCompile: true, CacheDir: cacheDir})
	var afterChild, loaded map[string]uint64
	var dir string
	r.testChildDone = func(d string) { dir, afterChild = d, cacheFiles(t, d) }
	r.testLoaded = func(d string) { loaded = cacheFiles(t, d) }
	m := mustCompile(t, r, testmod.Example())
	if len(afterChild) == 0 {
		t.Fatalf("the child left nothing in %s", dir)
	}
	if !strings.HasPrefix(dir, cacheDir+string(filepath.Separator)) {
		t.Fatalf("compile directory %s not under the cache directory %s", dir, cacheDir)
	}
	if len(loaded) != len(afterChild) {
		t.Fatalf("cache entries after the child %v, after the compile %v", afterChild, loaded)
	}
	for p, ino := range afterChild {
		if loaded[p] != ino {
			t.Fatalf("%s rewritten by this process: a cache miss", p)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compile directory left behind: %v", err)
	}
	if left := cacheFiles(t, cacheDir); len(left) != 0 {
		t.Fatalf("files left in the cache directory: %v", left)
	}
	r.Install("acme", m, Settings{})
	for range 2 {
		if d := eval(r, "acme", "DELE", "/a"); d.Code != 550 {
			t.Fatalf("module compiled by the child, its directory removed: %+v", d)
		}
	}
}

// TestChildCompileNoEntry: if the child's compiled code is not in the
// compile directory (removed from outside), the compile fails as the
// host's error rather than generating the code in this process, outside
// the child's bounds; the directory is removed all the same.
func TestChildCompileNoEntry(t *testing.T) {
	t.Parallel()
	cacheDir := t.TempDir()
	r, _ := newTestRuntime(t, Config{ChildCompile: true, CacheDir: cacheDir})
	r.testChildDone = func(d string) {
		for p := range cacheFiles(t, d) {
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
		}
	}
	loaded := false
	r.testLoaded = func(string) { loaded = true }
	_, err := r.Compile(context.Background(), testmod.Example(), nil)
	var ve *ValidationError
	if err == nil || errors.As(err, &ve) || !strings.Contains(err.Error(), "no compiled code") {
		t.Fatalf("compile without the child's code: %v", err)
	}
	if loaded {
		t.Fatal("this process compiled the module itself")
	}
	if entries, err := os.ReadDir(cacheDir); err != nil || len(entries) != 0 {
		t.Fatalf("cache directory after the compile: %v %v", entries, err)
	}
}

// TestChildCompilePrivateCache: without CacheDir the runtime keeps the
// compile directories in a temporary directory it removes on Close;
// each compile's own is gone once the compile returns.
func TestChildCompilePrivateCache(t *testing.T) {
	t.Parallel()
	r, err := NewRuntime(context.Background(), Config{ChildCompile: true})
	if err != nil {
		t.Fatal(err)
	}
	var compileDir string
	r.testChildDone = func(d string) { compileDir = d }
	mustCompile(t, r, testmod.Example())
	dir := r.cacheDir
	if !strings.Contains(dir, "ftpgate-policy-cache-") || !strings.HasPrefix(compileDir, dir) {
		t.Fatalf("private cache %q, compile directory %q", dir, compileDir)
	}
	if left := cacheFiles(t, dir); len(left) != 0 {
		t.Fatalf("files left after the compile: %v", left)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("private cache left behind: %v", err)
	}
}

// TestChildCompileClearsLeftovers: a process killed mid-compile leaves its
// compile directory (with a child's *.tmp file), and an older version left
// wazero cache entries; the next Runtime on the directory removes them and
// leaves other files alone.
func TestChildCompileClearsLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"compile-123/wazero-v-amd64-linux/ab.456.tmp", "wazero-v-amd64-linux/cd", "wazero-v-amd64-linux/cd.789.tmp", "keep/me"} {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("code"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newTestRuntime(t, Config{ChildCompile: true, CacheDir: dir})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "keep" {
		t.Fatalf("cache directory after start: %v", entries)
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
