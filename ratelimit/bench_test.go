package ratelimit

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/jlaffaye/ftp"
)

// BenchmarkAdmit is the cost of admitting a connection and releasing it,
// with every admission limit on, from 4096 client addresses in turn.
func BenchmarkAdmit(b *testing.B) {
	l, err := New(Config{ConnRate: 1e9, ConnBurst: 1 << 20, MaxConnsPerIP: 1 << 20, MaxConns: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	l.Logger = discardLogger()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 0).To4(), Port: 1}
		cc := &fakeSession{remote: addr}
		i := 0
		for pb.Next() {
			i++
			addr.IP[2], addr.IP[3] = byte(i>>8&15), byte(i)
			cc.id = uint32(i)
			done, err := l.Admit(ctx, cc)
			if err != nil {
				b.Fatal(err)
			}
			done()
		}
	})
}

// BenchmarkLimitedDownload downloads a file from a server whose user has a
// download rate far above what loopback can do, and, interleaved and
// untimed, from a server without the limiter. It reports the limited
// throughput as a ratio of the unlimited one (the goal is >= 0.97).
func BenchmarkLimitedDownload(b *testing.B) {
	const size = 64 << 20
	limited := newTestServer(b, Config{User: Limits{DownloadRate: 1 << 40}}, nil)
	plain := newTestServerWith(b, Config{}, nil, func(srv *engine.Server) {
		srv.AdmissionHooks, srv.CommandHooks, srv.TransferHooks = nil, nil, nil
		srv.LoginHooks, srv.PassiveHooks = nil, nil
	})
	limited.writeFile(b, "f.bin", size)
	plain.writeFile(b, "f.bin", size)
	lc := limited.ftpClient(b, "127.0.0.1", "alice")
	pc := plain.ftpClient(b, "127.0.0.1", "alice")
	download := func(c *ftp.ServerConn) time.Duration {
		start := time.Now()
		r, err := c.Retr("f.bin")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	download(lc) // warm both up: page cache, TCP windows
	download(pc)
	var lim, base time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		base += download(pc)
		b.StartTimer()
		lim += download(lc)
	}
	b.StopTimer()
	b.ReportMetric(float64(base)/float64(lim), "ratio")
	b.ReportMetric(float64(size)*float64(b.N)/base.Seconds()/1e6, "unlimited-MB/s")
	if st := limited.l.Stats(); st.TransferWaits != 0 {
		b.Fatalf("the limit was meant not to bite, yet transfers waited %d times", st.TransferWaits)
	}
}
