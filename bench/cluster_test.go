package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/bench/loadgen"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/tenancy"
)

// The cluster benchmark runs Debian's haproxy in front of three in-process
// gateways on 127.0.0.3, .4 and .5 (PROXY v2 on control and data, a
// passive range each, [cluster] on Debian's redis-server, one tenant in a
// shared directory), with three control frontends: through one, two and
// three instances. Without haproxy or redis-server it skips, unless
// FTPGATE_INTEGRATION=1, where it fails.

// clusterBenchHosts are the instances' addresses.
var clusterBenchHosts = []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"}

// clusterBenchPorts is the size of each instance's passive range: above
// FTPGATE_BENCH_C's default, so that one instance can serve every client.
const clusterBenchPorts = 100

// requireBenchTool finds a program (also in /usr/sbin, where Debian puts
// haproxy), skipping without it unless FTPGATE_INTEGRATION=1.
func requireBenchTool(b *testing.B, name string) string {
	b.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	if os.Getenv("FTPGATE_INTEGRATION") == "1" {
		b.Fatalf("%s is required by the cluster benchmark but not installed", name)
	}
	b.Skipf("%s not installed", name)
	return ""
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// benchPortFree reports whether host:port can be bound now.
func benchPortFree(host string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// clusterBenchRig is the running cluster: fronts[n-1] balances over the
// first n instances.
type clusterBenchRig struct {
	fronts [3]string
	// solo and clustered are two more gateways without a balancer, one
	// without [cluster] and one with it, for the login latency.
	solo, clustered string
}

// benchGatewayFile writes a server file and its tenant file into a new
// directory under dir and starts the gateway, stopped when b ends.
func startBenchGateway(b *testing.B, dir, name, server, tenant string) string {
	b.Helper()
	conf := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(conf, "tenants"), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "server.toml"), []byte(server), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "tenants", FeatureTenant+".toml"), []byte(tenant), 0o600); err != nil {
		b.Fatal(err)
	}
	return runBenchGateway(b, conf, gateway.Options{WithoutPolicy: true})
}

// runBenchGateway runs the gateway of the server file in conf in this
// process with opts, its logs discarded, and returns its control address;
// it is shut down (10 s for its sessions) when b ends.
func runBenchGateway(b *testing.B, conf string, opts gateway.Options) string {
	b.Helper()
	cfg, err := gateway.Load(filepath.Join(conf, "server.toml"))
	if err != nil {
		b.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := gateway.New(cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- g.Run(context.Background()) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		<-ran
	})
	return g.Addr().String()
}

// startClusterBench starts Redis, the gateways and haproxy.
func startClusterBench(b *testing.B) *clusterBenchRig {
	b.Helper()
	haproxy := requireBenchTool(b, "haproxy")
	redis := redistest.Start(b)
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		b.Fatal(err)
	}
	hash, err := tenancy.HashPasswordArgon2id(Pass, tenancy.Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		b.Fatal(err)
	}
	tenant := fmt.Sprintf("id = %q\n[storage]\nbackend = \"os\"\ndir = %q\n[[users]]\nname = %q\npassword = %q\n", FeatureTenant, data, User, hash)
	// Limits far above the load, so that the figures are the gateway's
	// and Redis's, not a refusal's; but on, so that logins go through
	// the limiter and its shared state.
	limits := "[limits]\nconn_rate = 100000\nconn_burst = 100000\nconn_per_ip = 100000\nsafe = [\"127.0.0.0/8\"]\n" +
		"passive_per_ip = -1\npassive_per_user = -1\npassive_per_tenant = -1\n[limits.user]\nmax_sessions = 100000\n"
	server := func(control, passive, proxy, instance string) string {
		s := fmt.Sprintf("[listen]\ncontrol = %q\n[timeouts]\nidle = \"0s\"\n[log]\nlevel = \"error\"\n[tenants]\ndir = \"tenants\"\ndefault = %q\n", control, FeatureTenant)
		if passive != "" {
			s += fmt.Sprintf("[passive]\nports = %q\n", passive)
		}
		s += fmt.Sprintf("[proxy_protocol]\nmode = %q\ntrusted = [\"127.0.0.1/32\"]\n", proxy) + limits
		if instance != "" {
			s += fmt.Sprintf("[cluster]\nredis = %q\ninstance_id = %q\n", redis.Addr(), instance)
		}
		return s
	}
	var control, base int
	var fronts [3]int
	for try := 0; ; try++ {
		if try == 200 {
			b.Fatal("no free ports for haproxy and the instances")
		}
		control, base = 20000+rand.IntN(12000), 20000+rand.IntN(12000-3*clusterBenchPorts)
		fronts = [3]int{20000 + rand.IntN(12000), 20000 + rand.IntN(12000), 20000 + rand.IntN(12000)}
		ok := true
		for _, p := range append(fronts[:], control) {
			ok = ok && (p < base || p >= base+3*clusterBenchPorts) && benchPortFree("127.0.0.1", p)
		}
		ok = ok && fronts[0] != fronts[1] && fronts[1] != fronts[2] && fronts[0] != fronts[2]
		for i, h := range clusterBenchHosts {
			ok = ok && benchPortFree(h, control)
			for j := 0; j < clusterBenchPorts && ok; j++ {
				ok = benchPortFree("127.0.0.1", base+i*clusterBenchPorts+j) && benchPortFree(h, base+i*clusterBenchPorts+j)
			}
		}
		if ok {
			break
		}
	}
	var cfg strings.Builder
	cfg.WriteString("global\n    maxconn 4096\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5m\n    timeout server 5m\n")
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(&cfg, "frontend control%d\n    bind 127.0.0.1:%d\n    default_backend control%d\nbackend control%d\n    balance roundrobin\n", n, fronts[n-1], n, n)
		for i := range n {
			fmt.Fprintf(&cfg, "    server i%d %s:%d send-proxy-v2\n", i, clusterBenchHosts[i], control)
		}
	}
	for i, h := range clusterBenchHosts {
		lo := base + i*clusterBenchPorts
		fmt.Fprintf(&cfg, "frontend passive%d\n    bind 127.0.0.1:%d-%d\n    default_backend passive%d\nbackend passive%d\n    server i%d %s send-proxy-v2\n",
			i, lo, lo+clusterBenchPorts-1, i, i, i, h)
		startBenchGateway(b, dir, fmt.Sprintf("i%d", i), server(net.JoinHostPort(h, strconv.Itoa(control)),
			fmt.Sprintf("%d-%d", lo, lo+clusterBenchPorts-1), "required", fmt.Sprintf("i%d", i)), tenant)
	}
	r := &clusterBenchRig{
		solo:      startBenchGateway(b, dir, "solo", server("127.0.0.1:0", "", "off", ""), tenant),
		clustered: startBenchGateway(b, dir, "clustered", server("127.0.0.1:0", "", "off", "latency"), tenant),
	}
	startBenchHAProxy(b, haproxy, dir, cfg.String())
	for n := range 3 {
		r.fronts[n] = net.JoinHostPort("127.0.0.1", strconv.Itoa(fronts[n]))
	}
	// haproxy has no readiness signal: a bounded wait for a login through
	// each front.
	for _, f := range r.fronts {
		deadline := time.Now().Add(time.Minute)
		for {
			c, err := loadgen.Connect(loadgen.Config{Addr: f, User: User, Pass: Pass})
			if err == nil {
				_ = c.Quit()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no login through haproxy at %s: %v", f, err)
			}
			<-time.After(50 * time.Millisecond)
		}
	}
	return r
}

// startBenchHAProxy checks and runs haproxy until b ends.
func startBenchHAProxy(b *testing.B, bin, dir, cfg string) {
	b.Helper()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", path).CombinedOutput(); err != nil {
		b.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logs := &benchLog{}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if b.Failed() {
			b.Logf("haproxy log:\n%s", logs)
		}
	})
}

// benchLog collects a process's output for a failure message.
type benchLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *benchLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *benchLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// BenchmarkCluster measures, through haproxy in front of one, two and
// three instances sharing Redis and a directory: Sessions (connect,
// login, PWD, LIST, QUIT) and SmallFiles (64 KiB up and back), each from
// FTPGATE_BENCH_C clients, with "x1" the rate over the same workload's
// through one instance in this run (the scaling ratio; see README.md for
// what two cores make of it); and Login, the latency of USER+PASS on a
// fresh connection to a gateway with [cluster] and to one without,
// interleaved, p50 and p99 of each and their differences.
func BenchmarkCluster(b *testing.B) {
	r := startClusterBench(b)
	c := concurrency(b)
	payload := loadgen.Payload(64<<10, 9)
	one := map[string]float64{} // the workload's rate through one instance
	for _, w := range []string{"Sessions", "SmallFiles"} {
		for n := 1; n <= 3; n++ {
			b.Run(fmt.Sprintf("%s/instances=%d", w, n), func(b *testing.B) {
				cfg := loadgen.Config{Addr: r.fronts[n-1], User: User, Pass: Pass}
				work := loadgen.Workload{Workers: c, Ops: int64(b.N)}
				b.ResetTimer()
				var res *loadgen.Result
				var err error
				if w == "Sessions" {
					res, err = loadgen.Sessions(cfg, work, "/")
				} else {
					res, err = loadgen.SmallFiles(cfg, work, "", payload)
				}
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				unit := "sessions"
				if w == "SmallFiles" {
					unit = "files"
					b.SetBytes(int64(len(payload)))
				}
				b.ReportMetric(res.Rate(), unit+"/s")
				b.ReportMetric(float64(res.Lat.Percentile(50).Microseconds()), "p50-us")
				b.ReportMetric(float64(res.Lat.Percentile(99).Microseconds()), "p99-us")
				if n == 1 {
					one[w] = res.Rate()
				} else if one[w] > 0 {
					b.ReportMetric(res.Rate()/one[w], "x1")
				}
				b.ReportMetric(0, "ns/op")
			})
		}
	}
	b.Run("Login", func(b *testing.B) {
		var solo, clustered loadgen.Latencies
		login := func(addr string, lat *loadgen.Latencies) {
			cl, err := loadgen.Dial(loadgen.Config{Addr: addr, User: User, Pass: Pass})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			start := time.Now()
			if _, err := cl.Cmd(331, "USER "+User); err != nil {
				b.Fatal(err)
			}
			if _, err := cl.Cmd(230, "PASS "+Pass); err != nil {
				b.Fatal(err)
			}
			lat.Add(time.Since(start))
			_ = cl.Quit()
		}
		// One untimed login each fills the credential caches.
		login(r.solo, &loadgen.Latencies{})
		login(r.clustered, &loadgen.Latencies{})
		b.ResetTimer()
		for i := range b.N {
			if i%2 == 0 {
				login(r.solo, &solo)
				login(r.clustered, &clustered)
			} else {
				login(r.clustered, &clustered)
				login(r.solo, &solo)
			}
		}
		b.StopTimer()
		for _, p := range []float64{50, 99} {
			s, c := solo.Percentile(p), clustered.Percentile(p)
			b.ReportMetric(float64(s.Microseconds()), fmt.Sprintf("p%.0f-local-us", p))
			b.ReportMetric(float64(c.Microseconds()), fmt.Sprintf("p%.0f-redis-us", p))
			b.ReportMetric(float64((c - s).Microseconds()), fmt.Sprintf("p%.0f-added-us", p))
		}
		b.ReportMetric(0, "ns/op")
	})
}
