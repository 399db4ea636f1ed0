package policy

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// vmRSS is this process's resident set in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// maxHostileRSSGrowth bounds how much the server process's resident memory
// may grow over TestAdminHostileShapes: the modules grew it by
// 5.5 GB. It leaves room for the 12 MiB upload buffered in full, the
// modules the child compiled (loaded here from the cache) and the
// allocator's slack.
const maxHostileRSSGrowth = 64 << 20

// TestAdminHostileShapes uploads the hostile shapes of issue 11 through
// the admin API, each refused by a static cap or by the compile child's
// bounds (or, within both, compiled), and after each one another
// tenant's valid upload is still answered 200. The server process's RSS
// grows by less than maxHostileRSSGrowth. Not parallel, so that no other
// test's memory is measured.
func TestAdminHostileShapes(t *testing.T) {
	// Explicit bounds: race builds would stretch the defaults.
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CompileMemory: 256 << 20,
		CompileCPU: 3 * time.Second, CompileTimeout: 30 * time.Second}, nil)
	if code, body := f.do("PUT", "/v1/tenants/globex/policy", "globex-secret", testmod.Example()); code != 200 {
		t.Fatalf("warm-up upload: %d %s", code, body)
	}
	debug.FreeOSMemory()
	before := vmRSS(t)
	const capped, bounded, either = "the limit is", "bound", ""
	for _, c := range []struct {
		name string
		wasm []byte
		want string // capped, bounded, or either (compiled within the bounds, or stopped by them)
	}{
		{"10,000 functions of 65,535 locals (80 KB)", wasmgen.ManyLocals(10000, 65535), capped},
		{"one br_table of 3,000,000 targets (3 MB)", wasmgen.WideBrTable(3_000_000), capped},
		{"300,000 nested blocks (900 KB)", wasmgen.NestedBlocks(300_000), capped},
		{"100,000 functions", wasmgen.ManyFunctions(100_000), capped},
		{"12 MiB of code", wasmgen.BigCode(12<<20, 128<<10), capped},
		{"2,048 functions of 1,024 nested loops (6 MiB, within the caps)", wasmgen.NestedFuncs(2048, wasmgen.Loop, 1024), bounded},
		{"4,096 locals live across 4,000 branches (within the caps)", wasmgen.LiveAcrossBranches(1, 4096, 4000), bounded},
		{"1,024 stack values across 1,000 branches (within the caps)", wasmgen.StackAcrossBranches(1, 1024, 1000), either},
		{"1,024 locals in 256 nested loops (within the caps)", wasmgen.LoopedLocals(1, 1024, 256), either},
	} {
		code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", c.wasm)
		switch {
		case c.want == either && (code == 200 || code == 400 && strings.Contains(body, bounded)):
		case c.want != either && code == 400 && strings.Contains(body, c.want):
		default:
			t.Errorf("%s: %d %s, want %q", c.name, code, body, c.want)
		}
		t.Logf("%s: %d %s", c.name, code, strings.TrimSpace(body)[:min(len(strings.TrimSpace(body)), 120)])
		if code, body := f.do("PUT", "/v1/tenants/globex/policy", "globex-secret", testmod.Example()); code != 200 {
			t.Fatalf("another tenant's upload after %s: %d %s", c.name, code, body)
		}
	}
	f.do("DELETE", "/v1/tenants/acme/policy", "acme-secret", nil)
	debug.FreeOSMemory()
	if after := vmRSS(t); after-before > maxHostileRSSGrowth {
		t.Fatalf("RSS grew by %d MiB (from %d MiB), more than %d MiB", (after-before)>>20, before>>20, maxHostileRSSGrowth>>20)
	} else {
		t.Logf("RSS %d MiB before, %d MiB after", before>>20, after>>20)
	}
}
