package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/bench/loadgen"
)

// The benchmarks report, besides go test's own ns/op and MB/s:
//
//	ratio       throughput as a fraction of the matching ceiling, measured
//	            interleaved with the server in the same run
//	ceil-MB/s   that ceiling's throughput
//	cpu-s/GB    server CPU seconds per GB moved (process CPU minus the
//	            load generator's locked thread, see Measure)
//	cpu-ratio   cpu-s/GB as a multiple of the ceiling's
//	files/s, sessions/s, p50-us, p99-us, cpu-us/op, B/session ...

// reportTransfer reports a server's and its ceiling's sums.
func reportTransfer(b *testing.B, srv, ceil Measurement) {
	b.ReportMetric(ceil.MBps(), "ceil-MB/s")
	b.ReportMetric(srv.MBps()/ceil.MBps(), "ratio")
	b.ReportMetric(srv.CPUPerGB(), "cpu-s/GB")
	b.ReportMetric(ceil.CPUPerGB(), "ceil-cpu-s/GB")
	if c := ceil.CPUPerGB(); c > 0 {
		b.ReportMetric(srv.CPUPerGB()/c, "cpu-ratio")
	}
}

// benchTransfer runs one large transfer per iteration, each after one
// transfer of the matching ceiling, untimed.
func benchTransfer(b *testing.B, ceiling, server func(*rig) (Measurement, error)) {
	fx := getFixture(b, benchSize(b))
	for _, c := range xferCases {
		b.Run(c.String(), func(b *testing.B) {
			r := newRig(b, c, fx)
			b.SetBytes(int64(len(fx.payload)))
			var srv, ceil Measurement
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				m, err := ceiling(r)
				if err != nil {
					b.Fatalf("ceiling: %v", err)
				}
				ceil = ceil.Add(m)
				b.StartTimer()
				m, err = server(r)
				if err != nil {
					b.Fatalf("server: %v", err)
				}
				srv = srv.Add(m)
			}
			b.StopTimer()
			reportTransfer(b, srv, ceil)
		})
	}
}

// BenchmarkRETR downloads FTPGATE_BENCH_SIZE bytes (512 MiB by default)
// over plain TCP and TLS, from the OS filesystem and MemMapFs.
func BenchmarkRETR(b *testing.B) {
	benchTransfer(b, (*rig).ceilingRetr, (*rig).retr)
}

// BenchmarkSTOR uploads FTPGATE_BENCH_SIZE bytes likewise.
func BenchmarkSTOR(b *testing.B) {
	benchTransfer(b, (*rig).ceilingStor, (*rig).stor)
}

// BenchmarkCeiling measures the ceilings alone: download by sendfile and
// from memory, upload by splice and into memory, each also over
// crypto/tls.
func BenchmarkCeiling(b *testing.B) {
	fx := getFixture(b, benchSize(b))
	for _, c := range xferCases {
		for _, dir := range []string{"download", "upload"} {
			b.Run(dir+"/"+c.String(), func(b *testing.B) {
				r := &rig{c: c, fx: fx}
				if c.tls {
					s, cl, err := SelfSignedTLS()
					if err != nil {
						b.Fatal(err)
					}
					r.tlsp = TLSPair{Server: s, Client: cl}
				}
				run := r.ceilingRetr
				if dir == "upload" {
					run = r.ceilingStor
				}
				b.SetBytes(int64(len(fx.payload)))
				var sum Measurement
				for range b.N {
					m, err := run()
					if err != nil {
						b.Fatal(err)
					}
					sum = sum.Add(m)
				}
				b.ReportMetric(sum.CPUPerGB(), "cpu-s/GB")
			})
		}
	}
}

// concurrency returns FTPGATE_BENCH_C, 32 by default.
func concurrency(tb testing.TB) int {
	n, err := EnvInt("FTPGATE_BENCH_C", 32)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// reportOps reports a concurrent workload's rate, latency and the server
// process's CPU: per operation, per GB moved (when bytes is not 0), and as
// operations per CPU-second, the rate one core fully given to the server
// would sustain (issue 5's "on one core" goals), independent of how many
// cores the machine lends the server.
func reportOps(b *testing.B, res *loadgen.Result, cpu time.Duration, unit string, bytes int64) {
	b.ReportMetric(res.Rate(), unit+"/s")
	b.ReportMetric(float64(res.Lat.Percentile(50).Microseconds()), "p50-us")
	b.ReportMetric(float64(res.Lat.Percentile(99).Microseconds()), "p99-us")
	if res.Ops > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(res.Ops), "cpu-us/op")
	}
	if cpu > 0 {
		b.ReportMetric(float64(res.Ops)/cpu.Seconds(), unit+"/cpu-s")
	}
	if bytes > 0 {
		b.ReportMetric(cpu.Seconds()/(float64(bytes)/1e9), "cpu-s/GB")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSmallFiles has FTPGATE_BENCH_C clients (32 by default) each
// upload a 64 KiB file and download it back, in turn, against a server
// child process over the OS filesystem; an operation is one file moved.
func BenchmarkSmallFiles(b *testing.B) { benchSmallFiles(b, false) }

// benchSmallFiles is BenchmarkSmallFiles, with every upload to a new
// name when fresh (BenchmarkSmallFilesFresh).
func benchSmallFiles(b *testing.B, fresh bool) {
	h := startHelper(b, OSFS, b.TempDir())
	payload := loadgen.Payload(64<<10, 5)
	c := concurrency(b)
	b.ResetTimer()
	cpu0 := h.cpu(b)
	res, err := loadgen.SmallFiles(h.config(), loadgen.Workload{Workers: c, Ops: int64(b.N), FreshNames: fresh}, "", payload)
	cpu := h.cpu(b) - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	reportOps(b, res, cpu, "files", res.Bytes)
}

// BenchmarkSessions has FTPGATE_BENCH_C workers connect, log in, PWD,
// LIST and QUIT in a loop against a server child process.
func BenchmarkSessions(b *testing.B) {
	h := startHelper(b, OSFS, b.TempDir())
	c := concurrency(b)
	b.ResetTimer()
	cpu0 := h.cpu(b)
	res, err := loadgen.Sessions(h.config(), loadgen.Workload{Workers: c, Ops: int64(b.N)}, "/")
	cpu := h.cpu(b) - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reportOps(b, res, cpu, "sessions", 0)
}

// sessionRounds is how many plain and tenancy rounds of sessions
// alternate in BenchmarkSessionsTenancy, so that a burst of load from
// elsewhere falls on both.
const sessionRounds = 4

// BenchmarkSessionsTenancy runs BenchmarkSessions' workload against two
// server child processes, interleaved: the engine with the benchmarks'
// plain driver, and a tenancy server (os.Root storage, a quota, rights)
// whose user's password is an argon2id hash with the default parameters
// (19 MiB, two passes). Every login but the first is a credential cache
// hit; the first, timed apart before the rounds, pays the hash. It
// reports the tenancy server's sessions/s and server CPU per session, and
// both as ratios to the plain one's in the same run.
func BenchmarkSessionsTenancy(b *testing.B) {
	plain := startHelper(b, OSFS, b.TempDir())
	ten := startHelperEnv(b, OSFS, b.TempDir(), helperEnv+"_TENANCY=1")
	t0 := time.Now()
	cpu0 := ten.cpu(b)
	if err := loadgen.OneSession(ten.config(), "/"); err != nil {
		b.Fatalf("first tenancy login: %v", err)
	}
	firstWall, firstCPU := time.Since(t0), ten.cpu(b)-cpu0
	if err := loadgen.OneSession(plain.config(), "/"); err != nil {
		b.Fatal(err)
	}
	c := concurrency(b)
	hs := [2]*helper{plain, ten}
	var res [2]loadgen.Result
	var cpu [2]time.Duration
	var p99 time.Duration // the tenancy server's worst round
	interleaved(b, sessionRounds, func(i int, ops int64) {
		c0 := hs[i].cpu(b)
		got, err := loadgen.Sessions(hs[i].config(), loadgen.Workload{Workers: c, Ops: ops}, "/")
		cpu[i] += hs[i].cpu(b) - c0
		if err != nil {
			b.Fatalf("server %d: %v", i, err)
		}
		res[i].Ops += got.Ops
		res[i].Elapsed += got.Elapsed
		if i == 1 {
			p99 = max(p99, got.Lat.Percentile(99))
		}
	})
	perOp := func(i int) float64 { return float64(cpu[i].Microseconds()) / float64(res[i].Ops) }
	b.ReportMetric(res[1].Rate(), "sessions/s")
	b.ReportMetric(res[0].Rate(), "plain-sessions/s")
	b.ReportMetric(res[1].Rate()/res[0].Rate(), "ratio")
	b.ReportMetric(float64(p99.Microseconds()), "max-round-p99-us")
	b.ReportMetric(perOp(1), "cpu-us/op")
	b.ReportMetric(perOp(0), "plain-cpu-us/op")
	b.ReportMetric(perOp(1)/perOp(0), "cpu-ratio")
	b.ReportMetric(float64(firstWall.Microseconds())/1e3, "first-login-ms")
	b.ReportMetric(float64(firstCPU.Microseconds())/1e3, "first-login-cpu-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCommandLatency measures NOOP and SIZE round trips on one
// session to a server child process.
func BenchmarkCommandLatency(b *testing.B) {
	dir := b.TempDir()
	h := startHelper(b, OSFS, dir)
	cli, err := loadgen.Connect(h.config())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Quit()
	if _, err := cli.Stor("/size.bin", bytes.NewReader([]byte("1234567"))); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, line string }{{"NOOP", "NOOP"}, {"SIZE", "SIZE /size.bin"}} {
		expect := 200
		if tc.name == "SIZE" {
			expect = 213
		}
		b.Run(tc.name, func(b *testing.B) {
			cpu0 := h.cpu(b)
			lat, err := loadgen.CommandLatency(cli, tc.line, expect, b.N)
			cpu := h.cpu(b) - cpu0
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(lat.Percentile(50).Nanoseconds())/1e3, "p50-us")
			b.ReportMetric(float64(lat.Percentile(99).Nanoseconds())/1e3, "p99-us")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
		})
	}
}

// BenchmarkIdleMemory logs FTPGATE_BENCH_IDLE sessions (2000 by default)
// in to a server child process and reports its heap, goroutine stack and
// RSS growth per session.
func BenchmarkIdleMemory(b *testing.B) {
	n, err := EnvInt("FTPGATE_BENCH_IDLE", 2000)
	if err != nil {
		b.Fatal(err)
	}
	var heap, stack, rss float64
	for range b.N {
		r := measureIdle(b, n)
		heap, stack, rss = heap+r.heap, stack+r.stack, rss+r.rss
	}
	f := float64(b.N)
	b.ReportMetric(heap/f, "heap-B/session")
	b.ReportMetric(stack/f, "stack-B/session")
	b.ReportMetric((heap+stack)/f, "heap+stack-B/session")
	b.ReportMetric(rss/f, "rss-B/session")
	b.ReportMetric(0, "ns/op")
}
