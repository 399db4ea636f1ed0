package ratelimit

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// The hook benchmarks below measure what the limiter adds to one command
// and to one small file (issue 17), with every limit on and set far above
// what they reach, as bench.FeatureLimitsConfig sets them (repeated here
// because bench imports this package), but with the rates raised: a
// benchmark loop outruns bench's 1e6 commands and 100 GB per second.
const (
	hookBenchRate  = 1e12 // commands per second, per session and per tenant
	hookBenchBytes = 1e18 // bytes per second, per user, tenant and address
	hookBenchMany  = 1 << 20
	hookBenchFile  = 64 << 10 // one small file: a single metered chunk
)

// hookBenchLimiter returns a Limiter with every limit on and a session of
// alice (tenant acme), admitted and logged in, as the engine would have
// them when the session's commands and transfers begin.
func hookBenchLimiter(b *testing.B) (*Limiter, *fakeSession) {
	b.Helper()
	lim := Limits{MaxSessions: hookBenchMany, CommandRate: hookBenchRate, CommandBurst: hookBenchRate,
		DownloadRate: hookBenchBytes, UploadRate: hookBenchBytes}
	l, err := New(Config{ConnRate: hookBenchRate, ConnBurst: hookBenchRate, MaxConnsPerIP: hookBenchMany,
		MaxConns: hookBenchMany, LoginFailures: hookBenchMany, IPDownloadRate: hookBenchBytes,
		IPUploadRate: hookBenchBytes, PassivePerIP: hookBenchMany, PassivePerUser: hookBenchMany,
		PassivePerTenant: hookBenchMany, User: lim, Tenant: lim, FailedLoginDelay: -1})
	if err != nil {
		b.Fatal(err)
	}
	l.Logger = discardLogger()
	l.Identity = func(cc engine.ClientContext) (string, string) { return "acme", cc.User() }
	cc := &fakeSession{id: 1, remote: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1).To4(), Port: 40000}}
	ctx := context.Background()
	done, err := l.Admit(ctx, cc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(done)
	cc.setUser("alice")
	_, err = l.CheckLogin(ctx, &engine.Login{Session: cc, User: "alice", Method: engine.LoginPassword},
		func(context.Context, *engine.Login) (engine.ClientDriver, error) { return afero.NewMemMapFs(), nil })
	if err != nil {
		b.Fatal(err)
	}
	return l, cc
}

// sizedSource is a transfer's source of left bytes that moves none, so
// that a benchmark measures the hook and not a copy.
type sizedSource struct{ left int64 }

func (s *sizedSource) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.left))
	s.left -= int64(n)
	return n, nil
}

// sendfileCopy is the engine's CopyFunc as sendfile makes it look: the
// bytes of the *io.LimitedReader it is given are accounted for at once.
func sendfileCopy(_ context.Context, _ io.Writer, src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		return io.Copy(io.Discard, src)
	}
	s := lr.R.(*sizedSource)
	n := min(lr.N, s.left)
	s.left -= n
	lr.N -= n
	return n, nil
}

// BenchmarkCommandHook is the limiter's cost per command of a logged-in
// session: CheckCommand with the session's and the tenant's command rates.
func BenchmarkCommandHook(b *testing.B) {
	l, cc := hookBenchLimiter(b)
	ctx := context.Background()
	cmd := &engine.Command{Session: cc, Verb: "NOOP"}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.CheckCommand(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassiveHook is the limiter's cost per passive port: the
// passive hook and its release.
func BenchmarkPassiveHook(b *testing.B) {
	l, cc := hookBenchLimiter(b)
	ctx := context.Background()
	pp := &engine.PassivePort{Session: cc, Verb: "EPSV", Ports: 1000}
	b.ReportAllocs()
	for b.Loop() {
		release, err := l.HoldPassivePort(ctx, pp)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

// BenchmarkTransferHook is the limiter's cost per small transfer: the
// transfer wrapper's setup and one 64 KiB chunk through it, metered
// against the user's, the tenant's and the address's rates.
func BenchmarkTransferHook(b *testing.B) {
	l, cc := hookBenchLimiter(b)
	ctx := context.Background()
	tr := &engine.Transfer{Session: cc, Verb: "RETR", Path: "/f.bin", Direction: engine.Download}
	src := &sizedSource{}
	b.ReportAllocs()
	for b.Loop() {
		src.left = hookBenchFile
		n, err := l.LimitTransfer(tr, sendfileCopy)(ctx, io.Discard, src)
		if err != nil || n != hookBenchFile {
			b.Fatalf("copied %d: %v", n, err)
		}
	}
}

// BenchmarkSmallFileHooks is all the limiter does for one small file:
// EPSV and RETR through the command hook, the passive port held and given
// back, and the transfer metered.
func BenchmarkSmallFileHooks(b *testing.B) {
	l, cc := hookBenchLimiter(b)
	ctx := context.Background()
	epsv := &engine.Command{Session: cc, Verb: "EPSV"}
	retr := &engine.Command{Session: cc, Verb: "RETR", Arg: "f.bin"}
	pp := &engine.PassivePort{Session: cc, Verb: "EPSV", Ports: 1000}
	tr := &engine.Transfer{Session: cc, Verb: "RETR", Path: "/f.bin", Direction: engine.Download}
	src := &sizedSource{}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.CheckCommand(ctx, epsv); err != nil {
			b.Fatal(err)
		}
		release, err := l.HoldPassivePort(ctx, pp)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.CheckCommand(ctx, retr); err != nil {
			b.Fatal(err)
		}
		src.left = hookBenchFile
		if n, err := l.LimitTransfer(tr, sendfileCopy)(ctx, io.Discard, src); err != nil || n != hookBenchFile {
			b.Fatalf("copied %d: %v", n, err)
		}
		release()
	}
}
