package policy

import (
	"os"
	"testing"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestDiskCompilationCache: with CacheDir set, compiled code lands on disk
// and a second runtime (a restart) compiles from it and runs the module.
func TestDiskCompilationCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r1, _ := newTestRuntime(t, Config{CacheDir: dir})
	mustCompile(t, r1, testmod.Example())
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir empty after a compile: %v %v", entries, err)
	}
	r2, _ := newTestRuntime(t, Config{CacheDir: dir})
	r2.Install("t", mustCompile(t, r2, testmod.Example()), Settings{})
	if d := eval(r2, "t", "DELE", "/a"); d.Code != 550 {
		t.Fatalf("module compiled from the disk cache: %+v", d)
	}
}
