package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestOpenFile: a module file compiles on an offline runtime whose
// module reports its hash; a missing file, a file that is no module
// and one above MaxModuleSize are errors.
func TestOpenFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "p.wasm")
	if err := os.WriteFile(good, testmod.Example(), 0o600); err != nil {
		t.Fatal(err)
	}
	rt, m, err := OpenFile(ctx, good, nil, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.Info().SHA256 == "" {
		t.Errorf("info %+v: no hash", m.Info())
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	junk, big := filepath.Join(dir, "junk.wasm"), filepath.Join(dir, "big.wasm")
	if err := os.WriteFile(junk, []byte("not wasm"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 16<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{filepath.Join(dir, "none"): "no such file", junk: "", big: "larger than 16777216 bytes"} {
		if _, _, err := OpenFile(ctx, file, nil, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", filepath.Base(file), err, want)
		}
	}
}
