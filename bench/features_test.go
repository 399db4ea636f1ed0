package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/bench/loadgen"
	"github.com/ftpgate/ftpgate/engine"
)

// featurePair is the engine alone and a feature server over the same
// directory, each with a logged-in client: the two sides of every feature
// ratio.
type featurePair struct {
	fx         *fixture
	eng, full  *Server
	ecli, fcli *featClient
}

// featureVariant is what the second server of a pair runs with.
type featureVariant struct {
	name string
	set  FeatureSet
	// buffered makes the server copy through its buffer as a PROXY data
	// connection does, with no feature on: what losing sendfile and
	// splice alone costs.
	buffered bool
}

// featureVariants are the benchmarks' variants: every feature together
// (issue 17's figure), issue 5's three together, then each alone, then the
// buffered copy alone, to tell what costs what.
var featureVariants = []featureVariant{
	{"every", EveryFeature, false},
	{"all", AllFeatures, false},
	{"proxy", FeatureProxy, false},
	{"limits", FeatureLimits, false},
	{"policy", FeaturePolicy, false},
	{"buffered", 0, true},
	{"tenancy", FeatureTenancy, false},
	{"telemetry", FeatureTelemetry, false},
}

// options returns the server options of v over dir, with hooks.
func (v featureVariant) options(dir string, hooks []engine.TransferHook) ServerOptions {
	if v.buffered {
		hooks = append(hooks[:len(hooks):len(hooks)], bufferedCopy)
	}
	return ServerOptions{FS: OSFS, Dir: dir, Features: v.set, TransferHooks: hooks}
}

// bufferedCopy hides the data connection's and the file's types from the
// engine, which then copies through its pooled buffer instead of using
// sendfile or splice.
func bufferedCopy(_ *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		return next(ctx, struct{ io.Writer }{dst}, struct{ io.Reader }{src})
	}
}

// newFeaturePair starts the engine alone and a server running v over fx's
// directory, both with hooks, and logs a client in to each.
func newFeaturePair(tb testing.TB, fx *fixture, v featureVariant, hooks ...engine.TransferHook) *featurePair {
	tb.Helper()
	p := &featurePair{fx: fx}
	for _, s := range []struct {
		srv **Server
		cli **featClient
		v   featureVariant
	}{{&p.eng, &p.ecli, featureVariant{}}, {&p.full, &p.fcli, v}} {
		srv, err := StartServer(s.v.options(fx.dir, hooks))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = srv.Close() })
		cli, err := dialFeat(srv.Addr, s.v.set&FeatureProxy != 0)
		if err != nil {
			tb.Fatalf("%q: %v", s.v.name, err)
		}
		tb.Cleanup(cli.quit)
		*s.srv, *s.cli = srv, cli
	}
	return p
}

// retr measures one RETR of the fixture by cli and checks its bytes.
func (p *featurePair) retr(cli *featClient) (Measurement, error) {
	var got loadgen.Sum
	m, err := Measure(func() (int64, error) {
		var err error
		got, err = cli.retr("/big.bin")
		return got.N, err
	})
	if err == nil {
		err = loadgen.Verify(got, p.fx.sum)
	}
	return m, err
}

// stor measures one STOR of the fixture file (sent with sendfile) by cli
// into name and checks the stored bytes.
func (p *featurePair) stor(cli *featClient, name string) (Measurement, error) {
	dst := filepath.Join(p.fx.dir, name)
	_ = os.Remove(dst)
	defer os.Remove(dst)
	src, err := os.Open(p.fx.file)
	if err != nil {
		return Measurement{}, err
	}
	defer src.Close()
	m, err := Measure(func() (int64, error) { return cli.stor("/"+name, src) })
	if err != nil {
		return m, err
	}
	f, err := os.Open(dst)
	if err != nil {
		return m, err
	}
	defer f.Close()
	got, err := loadgen.SumReader(f)
	if err == nil {
		err = loadgen.Verify(got, p.fx.sum)
	}
	if err != nil {
		return m, fmt.Errorf("stored file: %w", err)
	}
	return m, nil
}

// featureXfers are the transfers measured both ways: engine alone and
// every feature on.
var featureXfers = []struct {
	name      string
	eng, full func(*featurePair) (Measurement, error)
}{
	{"RETR",
		func(p *featurePair) (Measurement, error) { return p.retr(p.ecli) },
		func(p *featurePair) (Measurement, error) { return p.retr(p.fcli) }},
	{"STOR",
		func(p *featurePair) (Measurement, error) { return p.stor(p.ecli, "up-engine.bin") },
		func(p *featurePair) (Measurement, error) { return p.stor(p.fcli, "up-features.bin") }},
}

// BenchmarkFeatures runs the large transfers (FTPGATE_BENCH_SIZE, plain
// TCP, OS filesystem) and the small-files workload against a server with
// every gateway feature on (…/all) and with each alone, and reports them
// as a ratio to the engine alone measured interleaved in the same run:
// each iteration moves the same bytes through both servers, alternately
// engine first and feature server first (the second of two back-to-back
// transfers tends to run faster here), and only the feature server's
// transfer is timed.
func BenchmarkFeatures(b *testing.B) {
	fx := getFixture(b, benchSize(b))
	for _, x := range featureXfers {
		for _, v := range featureVariants {
			b.Run(x.name+"/"+v.name, func(b *testing.B) {
				p := newFeaturePair(b, fx, v)
				b.SetBytes(int64(len(fx.payload)))
				var full, eng Measurement
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					for k := range 2 {
						if (i+k)%2 == 0 {
							m, err := x.eng(p)
							if err != nil {
								b.Fatalf("engine alone: %v", err)
							}
							eng = eng.Add(m)
							continue
						}
						b.StartTimer()
						m, err := x.full(p)
						b.StopTimer()
						if err != nil {
							b.Fatalf("%s: %v", v.name, err)
						}
						full = full.Add(m)
					}
				}
				b.ReportMetric(eng.MBps(), "engine-MB/s")
				b.ReportMetric(full.MBps()/eng.MBps(), "ratio")
				b.ReportMetric(full.CPUPerGB(), "cpu-s/GB")
				b.ReportMetric(eng.CPUPerGB(), "engine-cpu-s/GB")
				if c := eng.CPUPerGB(); c > 0 {
					b.ReportMetric(full.CPUPerGB()/c, "cpu-ratio")
				}
			})
		}
	}
	for _, v := range featureVariants {
		b.Run("SmallFiles/"+v.name, func(b *testing.B) { benchFeatureSmallFiles(b, v) })
	}
}

// featureSmallRounds is how many engine-alone and feature rounds of small
// files alternate in one benchmark run, so that a burst of load from
// elsewhere falls on both.
const featureSmallRounds = 4

// benchFeatureSmallFiles has FTPGATE_BENCH_C clients per server (32 by
// default) each upload a 64 KiB file and download it back, in turn, as
// BenchmarkSmallFiles does, against two server child processes (the
// engine alone and v), so that the CPU per file is each server's own; the
// clients run in this process (they must send PROXY headers, which the
// load generator cannot).
func benchFeatureSmallFiles(b *testing.B, v featureVariant) {
	payload := loadgen.Payload(64<<10, 5)
	c := concurrency(b)
	var srvs [2]*helper
	for i, name := range []string{"", v.name} {
		srvs[i] = startHelperEnv(b, OSFS, b.TempDir(), helperEnv+"_FEATURES="+name)
	}
	proxy := [2]bool{false, v.set&FeatureProxy != 0}
	res := [2]*loadgen.Result{{Lat: &loadgen.Latencies{}}, {Lat: &loadgen.Latencies{}}}
	var cpu [2]time.Duration
	interleaved(b, featureSmallRounds, func(i int, ops int64) {
		cpu0 := srvs[i].cpu(b)
		err := featSmallFiles(res[i], srvs[i].Addr, proxy[i], c, ops, payload)
		cpu[i] += srvs[i].cpu(b) - cpu0
		if err != nil {
			b.Fatalf("server %d of %q: %v", i, v.name, err)
		}
	})
	b.SetBytes(int64(len(payload)))
	eng, full := res[0], res[1]
	b.ReportMetric(full.Rate(), "files/s")
	b.ReportMetric(eng.Rate(), "engine-files/s")
	b.ReportMetric(full.Rate()/eng.Rate(), "ratio")
	b.ReportMetric(float64(full.Lat.Percentile(50).Microseconds()), "p50-us")
	b.ReportMetric(float64(full.Lat.Percentile(99).Microseconds()), "p99-us")
	perFile := func(i int) float64 { return float64(cpu[i].Microseconds()) / float64(res[i].Ops) }
	b.ReportMetric(perFile(1), "cpu-us/op")
	b.ReportMetric(perFile(0), "engine-cpu-us/op")
	b.ReportMetric(perFile(1)/perFile(0), "cpu-ratio")
	b.ReportMetric(0, "ns/op")
}

// featSmallFiles is loadgen.SmallFiles with featClient: workers clients,
// logged in before the clock starts, each upload payload to its own file
// and download it back, checking the bytes, until ops files have moved.
// It adds what it did to res (files, bytes, wall time, latencies).
func featSmallFiles(res *loadgen.Result, addr string, proxy bool, workers int, ops int64, payload []byte) error {
	want := loadgen.SumOf(payload)
	clients := make([]*featClient, workers)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.quit()
			}
		}
	}()
	for i := range clients {
		c, err := dialFeat(addr, proxy)
		if err != nil {
			return err
		}
		clients[i] = c
	}
	var left atomic.Int64
	left.Store(ops)
	errs := make([]error, workers)
	var moved, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for id, c := range clients {
		wg.Go(func() {
			name := fmt.Sprintf("/small-%d.bin", id)
			var lat []time.Duration
			defer func() { res.Lat.Merge(lat) }()
			for i := 0; left.Add(-1) >= 0; i++ {
				t := time.Now()
				var n int64
				var err error
				if i%2 == 0 {
					n, err = c.stor(name, bytes.NewReader(payload))
				} else {
					var got loadgen.Sum
					if got, err = c.retr(name); err == nil {
						err = loadgen.Verify(got, want)
					}
					n = got.N
				}
				if err != nil {
					errs[id] = err
					left.Store(0) // stop the others
					return
				}
				lat = append(lat, time.Since(t))
				moved.Add(n)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	res.Elapsed += time.Since(start)
	res.Ops += done.Load()
	res.Bytes += moved.Load()
	for id, err := range errs {
		if err != nil {
			return fmt.Errorf("worker %d: %w", id, err)
		}
	}
	return nil
}

// TestFeatures runs the feature benchmarks' path once with small sizes:
// every byte must arrive intact through PROXY headers, the limiter and the
// policy, and each feature must have seen the traffic without biting. It
// asserts no timing; it logs the ratios for a glance.
func TestFeatures(t *testing.T) {
	t.Parallel()
	size := int64(8 << 20)
	if raceEnabled {
		size = 1 << 20
	}
	var mu sync.Mutex
	remotes := map[string]int{}
	seen := func(x *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
		ip, _, _ := net.SplitHostPort(x.Session.RemoteAddr().String())
		mu.Lock()
		remotes[ip]++
		mu.Unlock()
		return next
	}
	p := newFeaturePair(t, getFixture(t, size), featureVariants[0], seen)

	for _, x := range featureXfers {
		eng, err := x.eng(p)
		if err != nil {
			t.Fatalf("%s, engine alone: %v", x.name, err)
		}
		full, err := x.full(p)
		if err != nil {
			t.Fatalf("%s, every feature: %v", x.name, err)
		}
		t.Logf("%s %d bytes: engine alone %.0f MB/s, every feature %.0f MB/s (%.2f; noisy at this size)",
			x.name, full.Bytes, eng.MBps(), full.MBps(), full.MBps()/eng.MBps())
	}
	const workers, files = 4, 32
	res := &loadgen.Result{Lat: &loadgen.Latencies{}}
	if err := featSmallFiles(res, p.full.Addr, true, workers, files, loadgen.Payload(64<<10, 9)); err != nil {
		t.Fatalf("small files, every feature: %v", err)
	}
	if res.Ops != files || res.Bytes != files*64<<10 {
		t.Errorf("small files moved %d files, %d bytes; want %d, %d", res.Ops, res.Bytes, files, files*64<<10)
	}

	// The engine alone saw 127.0.0.1; the feature server the address in
	// the headers, on every transfer (RETR, STOR, 32 small files).
	mu.Lock()
	want := map[string]int{"127.0.0.1": 2, ProxyClientIP: 2 + files}
	if fmt.Sprint(remotes) != fmt.Sprint(want) {
		t.Errorf("transfers by client address %v, want %v", remotes, want)
	}
	mu.Unlock()

	// Each transfer of the feature server is EPSV and RETR or STOR, both
	// subscribed; login adds USER, PASS, TYPE per session.
	f := p.full.Features
	fig := f.Policy.Figures(FeatureTenant)
	if min := uint64(2 * (2 + files)); fig.Calls < min || fig.Allows != fig.Calls || fig.Errors != 0 {
		t.Errorf("policy figures %+v: want at least %d calls, all allowed", fig, min)
	}
	st := f.Limiter.Stats()
	if st.TrackedIPs == 0 || st.TrackedUsers == 0 {
		t.Errorf("limiter stats %+v: it saw no address or user", st)
	}
	if st.RefusedConnRate+st.RefusedConnPerIP+st.RefusedMaxConns+st.RefusedCommands+st.DelayedCommands+st.TransferWaits != 0 {
		t.Errorf("limiter stats %+v: a limit bit", st)
	}

	// A client that speaks without a header is dropped before the banner:
	// the control listener requires one.
	conn, err := net.DialTimeout("tcp", p.full.Addr, featTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(featTimeout))
	if _, err := conn.Write([]byte("USER " + User + "\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
		t.Errorf("a client without a PROXY header got %q, want the connection dropped", line)
	}
}

// variantNamed returns the feature variant called name.
func variantNamed(t *testing.T, name string) featureVariant {
	t.Helper()
	v, ok := lookupVariant(name)
	if !ok {
		t.Fatalf("no feature variant %q", name)
	}
	return v
}

// lookupVariant returns the feature variant called name; "" is the engine
// alone.
func lookupVariant(name string) (featureVariant, bool) {
	if name == "" {
		return featureVariant{}, true
	}
	i := slices.IndexFunc(featureVariants, func(v featureVariant) bool { return v.name == name })
	if i < 0 {
		return featureVariant{}, false
	}
	return featureVariants[i], true
}

// TestFeaturesTelemetry moves the transfers' bytes through the
// telemetry variant, whose metrics then count them: the upload's bytes
// and the download's, for the feature tenant; and both moved by sendfile
// and splice (engine.Result.ZeroCopy), as through the engine alone, while
// the buffered variant's did not.
func TestFeaturesTelemetry(t *testing.T) {
	t.Parallel()
	fx := getFixture(t, 1<<20)
	if got := copyPaths(t, fx, variantNamed(t, "telemetry")); got != "RETR:zero-copy STOR:zero-copy" {
		t.Errorf("telemetry on: the transfers' copies were %q, want sendfile and splice", got)
	}
	// The check itself: a copy through the buffer is seen.
	if got := copyPaths(t, fx, variantNamed(t, "buffered")); got != "RETR:buffered STOR:buffered" {
		t.Errorf("buffered variant: the transfers' copies were %q", got)
	}
	p := newFeaturePair(t, fx, variantNamed(t, "telemetry"))
	moved := map[string]int64{}
	for _, x := range featureXfers {
		m, err := x.full(p)
		if err != nil {
			t.Fatalf("%s with telemetry: %v", x.name, err)
		}
		moved[x.name] += m.Bytes
	}
	resp, err := http.Get(p.full.Features.TelemetryURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	scrape, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]int64{
		`ftpgate_transfer_bytes_total{direction="download",tenant="` + FeatureTenant + `"}`: moved["RETR"],
		`ftpgate_transfer_bytes_total{direction="upload",tenant="` + FeatureTenant + `"}`:   moved["STOR"],
	} {
		got := -1.0
		for line := range strings.Lines(string(scrape)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
				got, _ = strconv.ParseFloat(v, 64)
			}
		}
		if want == 0 || got != float64(want) {
			t.Errorf("%s = %v, want %d", series, got, want)
		}
	}
}

// TestFeaturesTenancy moves the transfers' bytes through the tenancy
// variant: a tenancy.Driver serving the same directory, with a quota.
func TestFeaturesTenancy(t *testing.T) {
	t.Parallel()
	v := variantNamed(t, "tenancy")
	p := newFeaturePair(t, getFixture(t, 1<<20), v)
	if p.full.Features.Tenancy == nil {
		t.Fatal("no tenancy driver")
	}
	for _, x := range featureXfers {
		if _, err := x.full(p); err != nil {
			t.Fatalf("%s through tenancy: %v", x.name, err)
		}
	}
	// With its byte quota on, downloads keep sendfile and uploads splice.
	if got := copyPaths(t, getFixture(t, 1<<20), v); got != "RETR:zero-copy STOR:zero-copy" {
		t.Errorf("tenancy with a quota: the transfers' copies were %q, want sendfile and splice", got)
	}
}

// copyPaths moves fx's file down and a file up through a new server
// running v and tells how the engine copied each, from its Results:
// "RETR:zero-copy STOR:buffered", say.
func copyPaths(t *testing.T, fx *fixture, v featureVariant) string {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	o := v.options(fx.dir, nil)
	o.ResultHooks = []engine.ResultHook{func(r *engine.Result) {
		if !r.Transfer || (r.Verb != "RETR" && r.Verb != "STOR") {
			return
		}
		how := "buffered"
		if r.ZeroCopy {
			how = "zero-copy"
		}
		mu.Lock()
		seen = append(seen, r.Verb+":"+how)
		mu.Unlock()
	}}
	srv, err := StartServer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	cli, err := dialFeat(srv.Addr, v.set&FeatureProxy != 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &featurePair{fx: fx}
	if _, err := p.retr(cli); err != nil {
		t.Fatalf("%s: RETR: %v", v.name, err)
	}
	if _, err := p.stor(cli, "up-copypaths-"+v.name+".bin"); err != nil {
		t.Fatalf("%s: STOR: %v", v.name, err)
	}
	cli.quit() // waits for QUIT's reply, after the STOR's Result
	mu.Lock()
	defer mu.Unlock()
	return strings.Join(seen, " ")
}
