package policy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// benchEvaluate measures Runtime.Evaluate end to end with the deadline
// armed (the per-call timer and CloseOnContextDone), and reports the
// median and 99th percentile of single calls besides the mean.
func benchEvaluate(b *testing.B, wasm []byte, verb, path string) {
	r, _ := newTestRuntime(b, Config{})
	m, err := r.Compile(context.Background(), wasm, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Install("t", m, Settings{})
	req := abi.Request{Verb: verb, Path: path, Tenant: "t", User: "alice", Remote: "127.0.0.1:40000", Session: 1}
	ctx := context.Background()
	if d := r.Evaluate(ctx, "t", &req); d.Err != nil || !d.Called {
		b.Fatalf("warm-up: %+v", d)
	}
	samples := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req.NowMillis = 0
		start := time.Now()
		r.Evaluate(ctx, "t", &req)
		if len(samples) < 1<<20 {
			samples = append(samples, time.Since(start))
		}
	}
	b.StopTimer()
	// On a loaded machine a thread can lose the CPU for longer than the
	// deadline; such timeouts are counted, any other error is a failure.
	f := r.Figures("t")
	if f.Errors != f.Timeouts {
		b.Fatalf("errors during the benchmark: %+v", f)
	}
	b.ReportMetric(float64(f.Timeouts), "timeouts")
	slices.Sort(samples)
	if n := len(samples); n > 0 {
		b.ReportMetric(float64(samples[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(samples[n*99/100].Nanoseconds()), "p99-ns")
	}
}

func BenchmarkEvaluateWAT(b *testing.B) {
	b.Run("deny", func(b *testing.B) { benchEvaluate(b, testmod.Example(), "DELE", "/some/dir/file.txt") })
	b.Run("cap", func(b *testing.B) { benchEvaluate(b, testmod.Example(), "STOR", "/some/dir/file.txt") })
}

func BenchmarkEvaluateGo(b *testing.B) {
	for _, c := range []struct{ dir, verb, path string }{
		{"deny-delete", "DELE", "/some/dir/file.txt"},
		{"extension-allowlist", "STOR", "/some/dir/file.exe"},
		{"extension-allowlist", "STOR", "/some/dir/file.pdf"},
		{"max-upload-size", "STOR", "/some/dir/file.bin"},
		{"business-hours", "STOR", "/some/dir/file.bin"},
		{"read-only-paths", "STOR", "/archive/dir/file.bin"},
		{"quarantine-rewrite", "STOR", "/incoming/file.bin"},
	} {
		b.Run(c.dir+"/"+filepath.Base(c.path), func(b *testing.B) {
			benchEvaluate(b, builder.Build(b, "../examples/policies/"+c.dir), c.verb, c.path)
		})
	}
}

// BenchmarkUnsubscribed is the cost a verb pays when the tenant's policy
// does not subscribe to it.
func BenchmarkUnsubscribed(b *testing.B) {
	r, _ := newTestRuntime(b, Config{})
	r.Install("t", mustCompile(b, r, testmod.Example()), Settings{})
	req := abi.Request{Verb: "RETR", Path: "/a", Tenant: "t"}
	for b.Loop() {
		r.Evaluate(context.Background(), "t", &req)
	}
}

// BenchmarkTransferRatio moves the same file through two servers, one
// with a policy subscribed to every verb that caps uploads far above the
// file's size, one without a policy, interleaved so that both see the
// same machine load. It reports each one's throughput and their ratio
// (goal ≥ 0.98).
func BenchmarkTransferRatio(b *testing.B) {
	const size = 64 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	setup := func(withPolicy bool) *ftp.ServerConn {
		rt, _ := newTestRuntime(b, Config{})
		if withPolicy {
			resp := abi.AppendResponse(nil, &abi.Response{MaxBytes: 1 << 40, HasMaxBytes: true})
			rt.Install("t", mustCompile(b, rt, testmod.Respond(resp, "*")), Settings{})
		}
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.bin"), payload, 0o600); err != nil {
			b.Fatal(err)
		}
		addr := serveWithPolicy(b, rt, afero.NewBasePathFs(afero.NewOsFs(), dir))
		return login(b, addr)
	}
	withC, withoutC := setup(true), setup(false)
	var with, without time.Duration
	b.SetBytes(4 * size)
	for b.Loop() {
		for _, x := range []struct {
			c *ftp.ServerConn
			d *time.Duration
		}{{withC, &with}, {withoutC, &without}} {
			start := time.Now()
			download(b, x.c, "/f.bin", size)
			if err := x.c.Stor("/up.bin", bytes.NewReader(payload)); err != nil {
				b.Fatal(err)
			}
			*x.d += time.Since(start)
		}
	}
	mb := float64(2*size*b.N) / (1 << 20)
	b.ReportMetric(mb/with.Seconds(), "MiB/s-policy")
	b.ReportMetric(mb/without.Seconds(), "MiB/s-none")
	b.ReportMetric(without.Seconds()/with.Seconds(), "ratio")
}

func download(b *testing.B, c *ftp.ServerConn, name string, size int64) {
	r, err := c.Retr(name)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != size {
		b.Fatalf("RETR: %d bytes, %v", n, err)
	}
}

// BenchmarkEvaluateGoMinimal is a Go guest that decodes nothing: the fixed
// cost of calling into Go's wasm runtime.
func BenchmarkEvaluateGoMinimal(b *testing.B) {
	benchEvaluate(b, builder.Build(b, "testdata/gominimal"), "STOR", "/a")
}

// BenchmarkCompile is the cost of one upload's compile, in this process
// and through a compile child (fork+exec, the child's compile into the
// cache, this process's load from it), each on a fresh cache.
func BenchmarkCompile(b *testing.B) {
	for _, m := range []struct {
		name string
		wasm func(b *testing.B) []byte
	}{
		{"wat-example", func(*testing.B) []byte { return testmod.Example() }},
		{"go-deny-delete", func(b *testing.B) []byte { return builder.Build(b, "../examples/policies/deny-delete") }},
	} {
		for _, child := range []bool{false, true} {
			mode := "in-process"
			if child {
				mode = "child"
			}
			b.Run(m.name+"/"+mode, func(b *testing.B) {
				wasm := m.wasm(b)
				ctx := context.Background()
				for b.Loop() {
					b.StopTimer()
					r, err := NewRuntime(ctx, Config{ChildCompile: child, Logger: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if _, err := r.Compile(ctx, wasm, nil); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					_ = r.Close(ctx)
					b.StartTimer()
				}
			})
		}
	}
}

// benchSession is a logged-in engine.ClientContext that keeps session
// values, as the engine's sessions do, so that Hooks.Command's per-session
// state (the ruling, the upload cap) costs what it costs in a server.
type benchSession struct {
	engine.ClientContext
	values engine.SessionValues
	addr   net.Addr
}

func (s *benchSession) SessionValues() *engine.SessionValues { return &s.values }
func (s *benchSession) User() string                         { return "alice" }
func (s *benchSession) ID() uint32                           { return 7 }
func (s *benchSession) RemoteAddr() net.Addr                 { return s.addr }
func (s *benchSession) HostName() string                     { return "ftp.acme.test" }
func (s *benchSession) TLSServerName() string                { return "" }
func (s *benchSession) HasTLSForControl() bool               { return false }
func (s *benchSession) HasTLSForTransfers() bool             { return false }
func (s *benchSession) LoggedIn() bool                       { return true }

// BenchmarkHooksCommand is the whole command hook as the engine calls it
// for a small file's two policy calls (EPSV, then STOR), under an
// allow-all policy subscribed to every verb: the request built from the
// session, the evaluation, the ruling recorded, the upload cap kept.
func BenchmarkHooksCommand(b *testing.B) {
	r, _ := newTestRuntime(b, Config{})
	r.Install("t", mustCompile(b, r, testmod.Respond(abi.AppendResponse(nil, &abi.Response{}), "*")), Settings{})
	h := NewHooks(r, func(engine.ClientContext) string { return "t" })
	s := &benchSession{addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}}
	ctx, cancel := context.WithCancel(context.Background()) // a session's context, as the engine passes it
	defer cancel()
	cmds := []engine.Command{{Session: s, Verb: "EPSV"}, {Session: s, Verb: "STOR", Arg: "f.bin", Paths: []string{"/dir/f.bin"}}}
	b.ReportAllocs()
	for b.Loop() {
		for i := range cmds {
			cmd := cmds[i]
			// A refusal is the on_error 451 of a call that failed; the
			// figures below tell a timeout from a failure.
			_ = h.Command(ctx, &cmd)
		}
	}
	b.StopTimer()
	// On a loaded machine a thread can lose the CPU for longer than the
	// deadline; such timeouts are counted, any other error is a failure.
	f := r.Figures("t")
	if f.Errors != f.Timeouts || f.Calls == 0 {
		b.Fatalf("errors during the benchmark: %+v", f)
	}
	b.ReportMetric(float64(f.Timeouts), "timeouts")
}
