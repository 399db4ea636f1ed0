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

// vmRSS is this process's resident set in bytes; vmStatus("VmHWM") its
// high-water mark.
func vmRSS(t *testing.T) int64 { t.Helper(); return vmStatus(t, "VmRSS") }

// resetPeakRSS makes VmHWM the current RSS; false when the kernel does not
// let this process (Linux 4.0+, /proc/self/clear_refs writable).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func vmStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no " + field)
	return 0
}

// Bounds on the server process's resident memory over
// TestAdminHostileShapes: the modules grew it by 5.5 GB, and the
// shapes within the caps, compiled in process, take it up by 1.7 GiB. Its
// peak (VmHWM) may grow by maxHostilePeakGrowth: the 12 MiB upload is
// buffered in full and the collector lets the heap reach twice what is
// live; what stays after may grow by maxHostileRSSGrowth: the modules the
// child compiled (loaded here from the cache) and the allocator's slack.
// Race builds get raceAddressFactor times as much for the peak (shadow
// memory), and its square after (the detector keeps the shadow of freed
// heap resident).
const (
	maxHostilePeakGrowth = 128 << 20 * raceAddressFactor
	maxHostileRSSGrowth  = 64 << 20 * raceAddressFactor * raceAddressFactor
)

// TestAdminHostileShapes uploads the hostile shapes of issue 11 through
// the admin API, each refused by a static cap or by the compile child's
// bounds (or, within both, compiled), and after each one another
// tenant's valid upload is still answered 200. The server process's RSS
// grows by less than maxHostilePeakGrowth at its peak and
// maxHostileRSSGrowth after. Not parallel, so that no other test's memory
// is measured.
func TestAdminHostileShapes(t *testing.T) {
	// Explicit bounds: race builds would stretch the defaults.
	f := newAdminFixtureConfig(t, t.TempDir(), Config{ChildCompile: true, CompileMemory: 256 << 20,
		CompileCPU: 3 * time.Second, CompileTimeout: 30 * time.Second}, nil)
	if code, body := f.do("PUT", "/v1/tenants/globex/policy", "globex-secret", testmod.Example()); code != 200 {
		t.Fatalf("warm-up upload: %d %s", code, body)
	}
	debug.FreeOSMemory()
	peak := resetPeakRSS()
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
	if peak {
		if hwm := vmStatus(t, "VmHWM"); hwm-before > maxHostilePeakGrowth {
			t.Fatalf("peak RSS grew by %d MiB (from %d MiB), more than %d MiB", (hwm-before)>>20, before>>20, maxHostilePeakGrowth>>20)
		} else {
			t.Logf("peak RSS %d MiB", hwm>>20)
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
