package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/bench/loadgen"
	"github.com/ftpgate/ftpgate/tenancy"
)

// The benchmarks that need the server's own CPU time or memory run it in a
// child process: this test binary, re-run as TestHelperServer. The child
// prints "ADDR host:port", answers "mem" on stdin with
// "MEM heapinuse stackinuse rss" after a full GC, and exits when stdin
// closes. FTPGATE_BENCH_HELPER_FEATURES names a feature variant the child
// serves with (features_test.go).

const helperEnv = "FTPGATE_BENCH_HELPER"

// TestHelperServer is the child process's body; it skips in a normal run.
func TestHelperServer(t *testing.T) {
	kind := os.Getenv(helperEnv)
	if kind == "" {
		t.Skip("runs only as the benchmarks' server process")
	}
	opts := ServerOptions{FS: FSKind(kind), Dir: os.Getenv(helperEnv + "_DIR")}
	// A feature variant by name (BenchmarkFeatures' small files), "" for
	// the engine alone.
	v, ok := lookupVariant(os.Getenv(helperEnv + "_FEATURES"))
	if !ok {
		fmt.Printf("ERR no feature variant %q\n", os.Getenv(helperEnv+"_FEATURES"))
		return
	}
	opts = v.options(opts.Dir, nil)
	opts.FS = FSKind(kind)
	if os.Getenv(helperEnv+"_TENANCY") != "" {
		// A tenancy server whose user's hash has the default argon2id
		// parameters (BenchmarkSessionsTenancy).
		p := tenancy.DefaultArgon2Params()
		opts.Features, opts.Argon2 = FeatureTenancy, &p
	}
	srv, err := StartServer(opts)
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return
	}
	defer srv.Close()
	if os.Getenv(helperEnv+"_MEMPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, so that a session's few are all seen
	}
	if name := os.Getenv(helperEnv + "_CPUPROFILE"); name != "" {
		if v.name != "" {
			name += "." + v.name // the feature child's own, beside the engine's
		}
		stop, err := startCPUProfile(name)
		if err != nil {
			fmt.Printf("ERR %v\n", err)
			return
		}
		defer stop()
	}
	fmt.Printf("ADDR %s\n", srv.Addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if n, ok := strings.CutPrefix(in.Text(), "parked "); ok {
			want, err := strconv.Atoi(n)
			if err != nil {
				fmt.Printf("ERR %v\n", err)
				continue
			}
			fmt.Printf("PARKED %d\n", awaitParked(want, parkWait))
			continue
		}
		if in.Text() != "mem" {
			fmt.Printf("ERR unknown request %q\n", in.Text())
			continue
		}
		debug.FreeOSMemory() // a GC, then memory returned to the OS
		if name := os.Getenv(helperEnv + "_MEMPROFILE"); name != "" {
			if err := writeHeapProfile(name); err != nil {
				fmt.Printf("ERR %v\n", err)
				continue
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, err := PidRSS(0)
		if err != nil {
			fmt.Printf("ERR %v\n", err)
			continue
		}
		fmt.Printf("MEM %d %d %d\n", ms.HeapInuse, ms.StackInuse, rss)
	}
}

// parkWait bounds how long the child waits for idle sessions to be
// parked: the engine parks a session after a second without a line
// (engine's idleParkDelay), so this is that second with ample room for a
// loaded machine.
const parkWait = 30 * time.Second

// parkedFrame is the function a parked session's goroutine waits in.
const parkedFrame = "engine.(*session).idleWait"

// awaitParked polls the goroutine profile until at least want goroutines
// wait in parkedFrame, or until limit passes, and returns how many do.
func awaitParked(want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := countParked()
		if n >= want || time.Now().After(deadline) {
			return n
		}
		<-tick.C
	}
}

// countParked counts the goroutines whose innermost ftpgate frame is
// parkedFrame (a resumed session runs the command loop above it), from
// the goroutine profile's text form: a "count @ pcs" line per distinct
// stack, then one "#" line per frame, innermost first.
func countParked() int {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return 0
	}
	total, count := 0, 0
	for line := range strings.Lines(buf.String()) {
		if n, _, ok := strings.Cut(line, " @ "); ok {
			count, _ = strconv.Atoi(n)
			continue
		}
		if strings.HasPrefix(line, "#") && strings.Contains(line, "github.com/ftpgate/") {
			if strings.Contains(line, parkedFrame) {
				total += count
			}
			count = 0 // only the innermost ftpgate frame counts
		}
	}
	return total
}

// startCPUProfile profiles the server child into name
// (FTPGATE_BENCH_HELPER_CPUPROFILE), so that the server's own costs can be
// read apart from the load generator's.
func startCPUProfile(name string) (stop func(), err error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// writeHeapProfile writes the live heap into name
// (FTPGATE_BENCH_HELPER_MEMPROFILE), overwritten at every "mem" request, so
// that the last one shows what idle sessions hold.
func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// helper is a running server child process.
type helper struct {
	Addr  string
	Pid   int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startHelper starts a server child over fs kind, in dir for OSFS.
func startHelper(tb testing.TB, kind FSKind, dir string) *helper {
	tb.Helper()
	return startHelperEnv(tb, kind, dir)
}

// startHelperEnv is startHelper with env ("NAME=value") added to the
// child's environment.
func startHelperEnv(tb testing.TB, kind FSKind, dir string, env ...string) *helper {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperServer$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(kind), helperEnv+"_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	if procs := os.Getenv("FTPGATE_BENCH_SERVER_PROCS"); procs != "" {
		// The server's GOMAXPROCS, e.g. 1 to see what one core does.
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+procs)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	h := &helper{Pid: cmd.Process.Pid, cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	tb.Cleanup(h.close)
	line, err := h.line()
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		tb.Fatalf("server process: %q, %v", line, err)
	}
	h.Addr = strings.TrimPrefix(line, "ADDR ")
	return h
}

// line reads the child's next line.
func (h *helper) line() (string, error) {
	if !h.out.Scan() {
		if err := h.out.Err(); err != nil {
			return "", err
		}
		return "", io.ErrUnexpectedEOF
	}
	return h.out.Text(), nil
}

// config returns a load generator config for the child.
func (h *helper) config() loadgen.Config {
	return loadgen.Config{Addr: h.Addr, User: User, Pass: Pass}
}

// memStats is the child's memory after a GC.
type memStats struct{ heap, stack, rss int64 }

func (h *helper) mem() (memStats, error) {
	if _, err := io.WriteString(h.stdin, "mem\n"); err != nil {
		return memStats{}, err
	}
	line, err := h.line()
	if err != nil {
		return memStats{}, err
	}
	var m memStats
	if _, err := fmt.Sscanf(line, "MEM %d %d %d", &m.heap, &m.stack, &m.rss); err != nil {
		return m, fmt.Errorf("server process: %q: %w", line, err)
	}
	return m, nil
}

// parked waits until the child's server has parked want idle sessions
// (or parkWait passed) and returns how many it has.
func (h *helper) parked(want int) (int, error) {
	if _, err := fmt.Fprintf(h.stdin, "parked %d\n", want); err != nil {
		return 0, err
	}
	line, err := h.line()
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "PARKED %d", &n); err != nil {
		return 0, fmt.Errorf("server process: %q: %w", line, err)
	}
	return n, nil
}

// cpu returns the child's CPU time so far.
func (h *helper) cpu(tb testing.TB) time.Duration {
	d, err := PidCPU(h.Pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// close ends the child: stdin's EOF makes it stop its server and exit; a
// child that does not is killed after ten seconds.
func (h *helper) close() {
	_ = h.stdin.Close()
	kill := time.AfterFunc(10*time.Second, func() { _ = h.cmd.Process.Kill() })
	defer kill.Stop()
	_ = h.cmd.Wait()
}

// idleResult is the memory cost of one idle logged-in session.
type idleResult struct {
	sessions         int
	heap, stack, rss float64 // bytes per session
}

// measureIdle logs n sessions in to a server child and returns the
// child's memory growth per session.
func measureIdle(tb testing.TB, n int) idleResult {
	tb.Helper()
	limit, err := RaiseFileLimit()
	if err != nil {
		tb.Logf("cannot raise RLIMIT_NOFILE: %v", err)
	}
	if maxN := int(limit) - 256; limit > 0 && n > maxN {
		tb.Logf("RLIMIT_NOFILE is %d: measuring %d idle sessions instead of %d", limit, maxN, n)
		n = maxN
	}
	h := startHelper(tb, MemFS, "")
	cfg := h.config()
	// Warm up: the first session makes the server's one-time allocations.
	if err := loadgen.OneSession(cfg, "/"); err != nil {
		tb.Fatal(err)
	}
	before, err := h.mem()
	if err != nil {
		tb.Fatal(err)
	}
	clients, err := loadgen.ConnectAll(cfg, n)
	if err != nil {
		tb.Fatal(err)
	}
	// An idle session's steady state is parked (engine's parkIdle).
	if parked, err := h.parked(n); err != nil {
		tb.Fatal(err)
	} else if parked < n {
		tb.Logf("only %d of %d idle sessions parked within %v", parked, n, parkWait)
	}
	after, err := h.mem()
	for _, c := range clients {
		_ = c.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	f := float64(n)
	return idleResult{
		sessions: n,
		heap:     float64(after.heap-before.heap) / f,
		stack:    float64(after.stack-before.stack) / f,
		rss:      float64(after.rss-before.rss) / f,
	}
}

// interleaved runs b.N operations in rounds over two servers: each round
// gives its share to server 0 and server 1 in turn, alternating which
// goes first, and only server 1's turns are timed. turn makes ops
// operations against server i (0 or 1).
func interleaved(b *testing.B, rounds int, turn func(i int, ops int64)) {
	b.ResetTimer()
	b.StopTimer()
	for r := range rounds {
		ops := int64(b.N) / int64(rounds)
		if r == 0 {
			ops += int64(b.N) % int64(rounds)
		}
		if ops == 0 {
			continue
		}
		for k := range 2 {
			i := (r + k) % 2
			if i == 1 {
				b.StartTimer()
			}
			turn(i, ops)
			b.StopTimer()
		}
	}
}
