package ratelimit

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/jlaffaye/ftp"
	"golang.org/x/time/rate"
)

// The bandwidth tests move size bytes at rate bytes/s. A metered copy lets
// one chunk through at once and does not wait after the last one, so the
// least time a transfer of n bytes can take is (n - 2 chunks) / rate.
const (
	testRate  = 512 << 10
	testSize  = 1 << 20
	testChunk = testRate / chunksPerSecond
)

// minDuration is the least time n bytes at testRate can take.
func minDuration(n int) time.Duration {
	return time.Duration(float64(n-2*testChunk) / testRate * float64(time.Second))
}

// checkDuration fails unless elapsed is at least 90% of the least time n
// bytes can take at testRate, and under a generous bound.
func checkDuration(t *testing.T, what string, n int, elapsed time.Duration) {
	t.Helper()
	least := minDuration(n)
	t.Logf("%s: %d bytes in %v (least %v at %d B/s)", what, n, elapsed, least, testRate)
	if elapsed < least*9/10 {
		t.Errorf("%s took %v, faster than the limit allows (%v)", what, elapsed, least)
	}
	if elapsed > 4*least+5*time.Second {
		t.Errorf("%s took %v, far slower than the limit (%v)", what, elapsed, least)
	}
}

func retr(t *testing.T, c *ftp.ServerConn, name string) []byte {
	t.Helper()
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

// TestDownloadAndUploadLimited: a user's download and upload take the
// time their rates allow, and arrive whole.
func TestDownloadAndUploadLimited(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	probe := func(tr *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
		return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			inner := src
			if lr, ok := src.(*io.LimitedReader); ok {
				inner = lr.R
			}
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %T<-%T(%T)", tr.Direction, dst, src, inner))
			mu.Unlock()
			return next(ctx, dst, src)
		}
	}
	ts := newTestServerWith(t, Config{User: Limits{DownloadRate: testRate, UploadRate: testRate}}, nil,
		func(srv *engine.Server) { srv.TransferHooks = append(srv.TransferHooks, probe) })
	want := ts.writeFile(t, "down.bin", testSize)
	c := ts.ftpClient(t, "127.0.0.1", "alice")

	start := time.Now()
	got := retr(t, c, "down.bin")
	checkDuration(t, "download", testSize, time.Since(start))
	if !bytes.Equal(got, want) {
		t.Fatal("downloaded bytes differ")
	}

	// The download left at most a chunk of debt, which the upload, on
	// another bucket, does not pay.
	start = time.Now()
	if err := c.Stor("up.bin", bytes.NewReader(want)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	checkDuration(t, "upload", testSize, time.Since(start))
	stored, err := os.ReadFile(filepath.Join(ts.dir, "up.bin"))
	if err != nil || !bytes.Equal(stored, want) {
		t.Fatalf("uploaded bytes differ (%v)", err)
	}
	if ts.l.Stats().TransferWaits == 0 {
		t.Fatal("no transfer waited for its rate")
	}
	// What the engine's copy got: a LimitedReader over the file or the
	// connection itself, the pair its sendfile and splice paths need.
	mu.Lock()
	defer mu.Unlock()
	wantSeen := map[string]bool{
		"download *net.TCPConn<-*io.LimitedReader(*os.File)": true,
		"upload *os.File<-*io.LimitedReader(*net.TCPConn)":   true,
	}
	if len(seen) < 2*chunksPerSecond {
		t.Fatalf("the engine's copy was called %d times, want one call per chunk", len(seen))
	}
	for _, s := range seen {
		if !wantSeen[s] {
			t.Fatalf("the engine's copy was called with %s, which loses sendfile/splice", s)
		}
	}
}

// TestSessionsOfOneUserShareTheRate: two sessions of one user downloading
// at once get the user's rate between them, not each.
func TestSessionsOfOneUserShareTheRate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{User: Limits{DownloadRate: testRate}}, nil)
	const each = testSize / 2
	want := ts.writeFile(t, "half.bin", each)
	clients := []*ftp.ServerConn{ts.ftpClient(t, "127.0.0.1", "alice"), ts.ftpClient(t, "127.0.0.2", "alice")}
	var wg sync.WaitGroup
	got := make([][]byte, len(clients))
	start := time.Now()
	for i, c := range clients {
		wg.Go(func() { got[i] = retr(t, c, "half.bin") })
	}
	wg.Wait()
	// Two transfers: each may skip waiting for its last chunk.
	checkDuration(t, "two sessions", 2*each-testChunk, time.Since(start))
	for i := range got {
		if !bytes.Equal(got[i], want) {
			t.Fatalf("session %d received different bytes", i)
		}
	}
}

// TestLimitedTLSTransfer: a download over a TLS data connection (PROT P)
// is limited too.
func TestLimitedTLSTransfer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{User: Limits{DownloadRate: testRate}}, nil)
	want := ts.writeFile(t, "secret.bin", testSize)
	c := ts.ftpClient(t, "127.0.0.1", "alice",
		ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(4)}))
	start := time.Now()
	got := retr(t, c, "secret.bin")
	checkDuration(t, "TLS download", testSize, time.Since(start))
	if !bytes.Equal(got, want) {
		t.Fatal("downloaded bytes differ")
	}
}

// TestAbortDuringLimitedTransfer: ABOR ends a limited transfer at once
// rather than after the rate has paid for the file.
func TestAbortDuringLimitedTransfer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{User: Limits{DownloadRate: 64 << 10}}, nil)
	ts.writeFile(t, "big.bin", 8<<20) // two minutes at the rate
	c := ts.ftpClient(t, "127.0.0.1", "alice")
	r, err := c.Retr("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.Close() }() // jlaffaye closes the data connection and reads the reply
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("closing the limited transfer hung")
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("session after the interrupted transfer: %v", err)
	}
	t.Logf("interrupted after %v", time.Since(start))
}

// TestTransferBucketsShared: the sessions of one user share its buckets,
// the users of one tenant share the tenant's, and the sessions of one
// address share the address's; each direction has its own.
func TestTransferBucketsShared(t *testing.T) {
	t.Parallel()
	l, err := New(Config{
		IPDownloadRate: 3 << 20,
		User:           Limits{DownloadRate: 1 << 20, UploadRate: 1 << 19},
		Tenant:         Limits{DownloadRate: 2 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Identity = func(cc engine.ClientContext) (string, string) { return "acme", cc.User() }
	ctx := context.Background()
	session := func(id uint32, ip net.IP, user string) *fakeSession {
		cc := &fakeSession{id: id, remote: &net.TCPAddr{IP: ip, Port: int(id)}}
		done, err := l.Admit(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(done)
		cc.setUser(user)
		if err := l.loginSucceeded(cc, user, nil); err != nil {
			t.Fatal(err)
		}
		return cc
	}
	a1 := session(1, net.IPv4(192, 0, 2, 1), "alice")
	a2 := session(2, net.IPv4(192, 0, 2, 2), "alice")
	b := session(3, net.IPv4(192, 0, 2, 1), "bob")
	buckets := func(cc engine.ClientContext, d engine.Direction) []*rate.Limiter {
		m := l.transferMeter(&engine.Transfer{Session: cc, Direction: d})
		return m.buckets[:m.n]
	}
	a1d, a2d, bd := buckets(a1, engine.Download), buckets(a2, engine.Download), buckets(b, engine.Download)
	if len(a1d) != 3 || len(a2d) != 3 || len(bd) != 3 {
		t.Fatalf("download buckets: %d, %d, %d; want user, tenant and address each", len(a1d), len(a2d), len(bd))
	}
	// Order: user, tenant, address.
	if a1d[0] != a2d[0] || a1d[0] == bd[0] {
		t.Error("user buckets not shared by the user's sessions alone")
	}
	if a1d[1] != a2d[1] || a1d[1] != bd[1] {
		t.Error("tenant bucket not shared by the tenant's users")
	}
	if a1d[2] != bd[2] || a1d[2] == a2d[2] {
		t.Error("address bucket not shared by the address's sessions alone")
	}
	if a1d[0].Limit() != 1<<20 || a1d[1].Limit() != 2<<20 || a1d[2].Limit() != 3<<20 {
		t.Errorf("rates %v %v %v", a1d[0].Limit(), a1d[1].Limit(), a1d[2].Limit())
	}
	up := buckets(a1, engine.Upload)
	if len(up) != 1 || up[0] == a1d[0] || up[0].Limit() != 1<<19 {
		t.Fatalf("upload buckets %v: want the user's own upload bucket only", up)
	}
}
