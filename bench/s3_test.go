package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/tenancy"
	"github.com/ftpgate/ftpgate/tenancy/s3test"
	"github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"
)

// The object-storage benchmark runs SeaweedFS's `weed mini` through
// tenancy/s3test (FTPGATE_WEED; bash .ci/seaweedfs prints it) on
// 127.0.0.1 and an in-process gateway whose one tenant lives in its
// bucket. Without FTPGATE_WEED it skips, unless FTPGATE_INTEGRATION=1,
// where it fails.

const (
	s3BenchBucket = "ftpgate-bench"
	s3BenchPrefix = "tenants/bench"
)

// s3Rig is a running weed mini and a gateway on it.
type s3Rig struct {
	client *minio.Client
	addr   string
}

// startS3Rig starts weed mini and the gateway; both stop at the end of b.
func startS3Rig(b *testing.B) *s3Rig {
	b.Helper()
	st := s3test.Start(b)
	st.MakeBucket(b, s3BenchBucket)
	return &s3Rig{client: st.Client, addr: startS3Gateway(b, st, b.TempDir())}
}

// startS3Gateway runs an in-process gateway whose tenant FeatureTenant
// (user User) lives in the bench bucket under s3BenchPrefix, and returns
// its control address.
func startS3Gateway(b *testing.B, st *s3test.Store, dir string) string {
	b.Helper()
	hash, err := tenancy.HashPasswordArgon2id(Pass, tenancy.Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{
		"server.toml": fmt.Sprintf("[listen]\ncontrol = \"127.0.0.1:0\"\n[timeouts]\nidle = \"0s\"\n[tenants]\ndir = \"tenants\"\ndefault = %q\n", FeatureTenant),
		"creds.toml":  fmt.Sprintf("access_key_id = %q\nsecret_access_key = %q\n", st.AccessKey, st.SecretKey),
		"tenants/" + FeatureTenant + ".toml": fmt.Sprintf(`id = %q
[storage]
backend = "s3"
endpoint = %q
bucket = %q
prefix = %q
path_style = true
credentials_file = "../creds.toml"
[[users]]
name = %q
password = %q
`, FeatureTenant, st.URL, s3BenchBucket, s3BenchPrefix, User, hash),
	}
	conf := filepath.Join(dir, "conf")
	for name, content := range files {
		p := filepath.Join(conf, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return runBenchGateway(b, conf, gateway.Options{WithoutLimits: true, WithoutPolicy: true})
}

// login opens a session as User.
func (r *s3Rig) login(b *testing.B) *ftp.ServerConn {
	b.Helper()
	c, err := ftp.Dial(r.addr, ftp.DialWithTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login(User, Pass); err != nil {
		b.Fatal(err)
	}
	return c
}

// s3DirectPut makes the direct upload do what s3fs does, so that the
// ratio compares like with like: 8 MiB parts (s3fs.DefaultPartSize), two
// in flight (s3fs's maxInFlight), each with Content-MD5 and an unsigned
// payload. minio-go's defaults (16 MiB parts, four at once, the payload
// hashed for its signature on plain HTTP) differ in all three.
var s3DirectPut = minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 2, SendContentMd5: true, DisableContentSha256: true}

// BenchmarkS3 moves FTPGATE_BENCH_S3_SIZE bytes (64 MiB by default)
// through the gateway to SeaweedFS and back (STOR, RETR), each time after
// the same transfer made directly with minio-go (untimed), and reports
// the gateway's throughput as a ratio to minio-go's (goal: at least 0.9);
// SmallFiles stores 1 KiB files from FTPGATE_BENCH_C/4 (at least 1)
// sessions and reports files/s.
func BenchmarkS3(b *testing.B) {
	size, err := EnvSize("FTPGATE_BENCH_S3_SIZE", 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	r := startS3Rig(b)
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + i>>11)
	}
	ctx := context.Background()
	direct := func(key string, up bool) (time.Duration, error) {
		start := time.Now()
		if up {
			_, err := r.client.PutObject(ctx, s3BenchBucket, key, bytes.NewReader(payload), size, s3DirectPut)
			return time.Since(start), err
		}
		o, err := r.client.GetObject(ctx, s3BenchBucket, key, minio.GetObjectOptions{})
		if err != nil {
			return 0, err
		}
		defer o.Close()
		n, err := io.Copy(io.Discard, o)
		if err == nil && n != size {
			err = fmt.Errorf("direct GET: %d bytes, want %d", n, size)
		}
		return time.Since(start), err
	}
	for _, up := range []bool{false, true} {
		name := "RETR"
		if up {
			name = "STOR"
		}
		b.Run(name, func(b *testing.B) {
			c := r.login(b)
			defer func() { _ = c.Quit() }()
			if err := c.Stor("down.bin", bytes.NewReader(payload)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			var srv, ceil time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				d, err := direct(fmt.Sprintf("%s/direct%d.bin", s3BenchPrefix, i), up)
				if !up {
					d, err = direct(s3BenchPrefix+"/down.bin", false)
				}
				if err != nil {
					b.Fatal(err)
				}
				ceil += d
				b.StartTimer()
				start := time.Now()
				if up {
					err = c.Stor(fmt.Sprintf("up%d.bin", i), bytes.NewReader(payload))
				} else {
					var resp *ftp.Response
					resp, err = c.Retr("down.bin")
					if err == nil {
						var n int64
						n, err = io.Copy(io.Discard, resp)
						if cerr := resp.Close(); err == nil {
							err = cerr
						}
						if err == nil && n != size {
							err = fmt.Errorf("RETR: %d bytes, want %d", n, size)
						}
					}
				}
				srv += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			mb := float64(size) * float64(b.N) / 1e6
			b.ReportMetric(mb/ceil.Seconds(), "direct-MB/s")
			b.ReportMetric(ceil.Seconds()/srv.Seconds(), "ratio")
		})
	}
	b.Run("SmallFiles", func(b *testing.B) {
		conc := max(concurrency(b)/4, 1)
		small := payload[:min(1024, len(payload))]
		conns := make([]*ftp.ServerConn, conc)
		for i := range conns {
			conns[i] = r.login(b)
		}
		defer func() {
			for _, c := range conns {
				_ = c.Quit()
			}
		}()
		next := make(chan int)
		errs := make(chan error, conc)
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := c.Stor(fmt.Sprintf("small%d", i), bytes.NewReader(small)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for i := range b.N {
			select {
			case next <- i:
			case err := <-errs:
				close(next)
				wg.Wait()
				b.Fatal(err)
			}
		}
		close(next)
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		b.ReportMetric(float64(b.N)/el.Seconds(), "files/s")
	})
}
