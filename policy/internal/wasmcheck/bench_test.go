package wasmcheck

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
	"github.com/ftpgate/ftpgate/policy/policytest"
)

var goBuilder policytest.Builder

// BenchmarkCompileAtCaps measures wazero v1.12.0 compiling, with one
// compilation worker as the policy runtime does, the worst module each
// default cap allows, and real Go policies for comparison. It reports
// seconds per compile, nanoseconds per byte of code, the peak of the Go
// heap (sampled every millisecond) and the peak RSS growth (Linux). Run
// it alone, once:
//
//	go test -run '^$' -bench CompileAtCaps -benchtime 1x ./policy/internal/wasmcheck/
//
// WASMCHECK_BENCH_EXTRA=1 adds the shapes the caps cannot bound (values
// live across many branches), which take minutes at the caps, at a size
// that takes seconds.
func BenchmarkCompileAtCaps(b *testing.B) {
	d := Default()
	// Functions of n nested constructs each, enough to fill the code cap.
	fill := func(kind byte, depth, perLevel int) []byte {
		return wasmgen.NestedFuncs((d.CodeBytes-4096)/(depth*(perLevel+1)+5), kind, depth)
	}
	type shape struct {
		name string
		wasm func() []byte
	}
	shapes := []shape{
		{"functions", func() []byte { return wasmgen.ManyFunctions(d.Functions - wasmgen.Functions(0)) }},
		{"locals", func() []byte { return wasmgen.ManyLocals(d.TotalLocals/d.FunctionLocals, uint32(d.FunctionLocals)) }},
		{"code", func() []byte { return wasmgen.BigCode(d.CodeBytes-4096, d.FunctionBytes) }},
		{"depth-blocks", func() []byte { return fill(wasmgen.Block, d.Depth, 2) }},
		{"depth-loops", func() []byte { return fill(wasmgen.Loop, d.Depth, 2) }},
		{"depth-ifs", func() []byte { return fill(wasmgen.If, d.Depth, 4) }},
		{"br_tables", func() []byte {
			return wasmgen.BrTables(d.TotalBrTableTargets/d.BrTableTargets, 1, uint32(d.BrTableTargets-1))
		}},
		{"go-deny-delete", func() []byte { return goBuilder.Build(b, "../../../examples/policies/deny-delete") }},
		{"go-max-upload-size", func() []byte { return goBuilder.Build(b, "../../../examples/policies/max-upload-size") }},
	}
	if os.Getenv("WASMCHECK_BENCH_EXTRA") == "1" {
		shapes = append(shapes,
			shape{"live-locals-1024x1000", func() []byte { return wasmgen.LiveAcrossBranches(1, 1024, 1000) }},
			shape{"live-stack-1024x1000", func() []byte { return wasmgen.StackAcrossBranches(1, 1024, 1000) }},
			shape{"looped-locals-1024x256", func() []byte { return wasmgen.LoopedLocals(1, 1024, 256) }},
		)
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			wasm := s.wasm()
			st, err := Scan(wasm)
			if err != nil {
				b.Fatal(err)
			}
			if err := Check(wasm, Limits{}); err != nil {
				b.Fatalf("not within the default caps: %v", err)
			}
			ctx := experimental.WithCompilationWorkers(context.Background(), 1)
			var secs, peakHeap, peakRSS float64
			for b.Loop() {
				r := wazero.NewRuntime(ctx)
				runtime.GC()
				debug.FreeOSMemory()
				base := heapBytes()
				rssBase := resetPeakRSS()
				stop := sampleHeap()
				start := time.Now()
				cm, err := r.CompileModule(ctx, wasm)
				el := time.Since(start)
				peak := stop()
				if err != nil {
					b.Fatal(err)
				}
				secs = max(secs, el.Seconds())
				peakHeap = max(peakHeap, float64(peak-min(peak, base))/(1<<20))
				if rssBase > 0 {
					peakRSS = max(peakRSS, float64(peakRSSBytes()-rssBase)/(1<<20))
				}
				_ = cm.Close(ctx)
				_ = r.Close(ctx)
			}
			b.ReportMetric(secs, "compile-s")
			b.ReportMetric(secs*1e9/float64(max(1, st.CodeBytes)), "ns/code-byte")
			b.ReportMetric(peakHeap, "peak-heap-MiB")
			b.ReportMetric(peakRSS, "peak-rss-MiB")
			b.ReportMetric(float64(len(wasm))/(1<<20), "module-MiB")
		})
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples the live heap every millisecond until the returned
// function is called, which returns the peak seen.
func sampleHeap() func() uint64 {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			v := heapBytes()
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, heapBytes())
	}
}

// resetPeakRSS resets the kernel's peak RSS of this process (Linux
// clear_refs 5) and returns the current RSS, or 0 where that is
// unavailable.
func resetPeakRSS() uint64 {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return 0
	}
	return procStatus("VmRSS:")
}

func peakRSSBytes() uint64 { return procStatus("VmHWM:") }

func procStatus(key string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(string(f[0]), 10, 64)
				return n << 10
			}
		}
	}
	return 0
}
