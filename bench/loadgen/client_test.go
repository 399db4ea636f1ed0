package loadgen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpgate/ftpgate/bench"
	"github.com/ftpgate/ftpgate/bench/loadgen"
	"github.com/ftpgate/ftpgate/engine"
)

func startServer(t *testing.T, opts bench.ServerOptions) (*bench.Server, loadgen.Config) {
	t.Helper()
	srv, err := bench.StartServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, loadgen.Config{Addr: srv.Addr, User: bench.User, Pass: bench.Pass, TLS: srv.Client}
}

func connect(t *testing.T, cfg loadgen.Config) *loadgen.Client {
	t.Helper()
	c, err := loadgen.Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRoundTrip(t *testing.T) {
	payload := loadgen.Payload(3<<20+123, 7)
	want := loadgen.SumOf(payload)
	for _, fs := range []bench.FSKind{bench.OSFS, bench.MemFS} {
		for _, tls := range []bool{false, true} {
			for _, pasv := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/tls=%v/pasv=%v", fs, tls, pasv), func(t *testing.T) {
					srv, cfg := startServer(t, bench.ServerOptions{FS: fs, TLS: tls})
					cfg.PASV = pasv
					c := connect(t, cfg)
					n, err := c.Stor("/a.bin", bytes.NewReader(payload))
					if err != nil || n != want.N {
						t.Fatalf("Stor: %d, %v", n, err)
					}
					if err := c.RetrVerify("/a.bin", want); err != nil {
						t.Fatal(err)
					}
					stored, err := srv.FS.Open("/a.bin")
					if err != nil {
						t.Fatal(err)
					}
					got, err := loadgen.SumReader(stored)
					_ = stored.Close()
					if err != nil || got != want {
						t.Fatalf("stored file: %v, %v; want %v", got, err, want)
					}
					if size, err := c.Size("/a.bin"); err != nil || size != want.N {
						t.Fatalf("SIZE: %d, %v", size, err)
					}
					if pwd, err := c.Pwd(); err != nil || pwd != "/" {
						t.Fatalf("PWD: %q, %v", pwd, err)
					}
					if err := c.Noop(); err != nil {
						t.Fatal(err)
					}
					list, err := c.List("/")
					if err != nil || !bytes.Contains(list, []byte("a.bin")) {
						t.Fatalf("LIST: %q, %v", list, err)
					}
					if err := c.Quit(); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestStorFromFile uploads from an *os.File, the sendfile path.
func TestStorFromFile(t *testing.T) {
	_, cfg := startServer(t, bench.ServerOptions{})
	payload := loadgen.Payload(1<<20, 3)
	name := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(name, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := connect(t, cfg)
	if n, err := c.Stor("/f.bin", f); err != nil || n != int64(len(payload)) {
		t.Fatalf("Stor: %d, %v", n, err)
	}
	if err := c.RetrVerify("/f.bin", loadgen.SumOf(payload)); err != nil {
		t.Fatal(err)
	}
}

// flipWriter flips one bit of the byte at offset at.
type flipWriter struct {
	w   io.Writer
	off int64
	at  int64
}

func (f *flipWriter) Write(p []byte) (int, error) {
	if f.at >= f.off && f.at < f.off+int64(len(p)) {
		q := bytes.Clone(p)
		q[f.at-f.off] ^= 0x10
		p = q
	}
	f.off += int64(len(p))
	return f.w.Write(p)
}

// corrupt is a transfer hook that flips one bit of transfers going dir.
func corrupt(dir engine.Direction) engine.TransferHook {
	return func(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
		if t.Direction != dir || t.Verb == "LIST" {
			return next
		}
		return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			return next(ctx, &flipWriter{w: dst, at: 100_000}, src)
		}
	}
}

// truncate is a transfer hook that moves only half of a download.
func truncate(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
	if t.Direction != engine.Download || t.Verb != "RETR" {
		return next
	}
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		return next(ctx, dst, io.LimitReader(src, 1<<19))
	}
}

func TestCorruptionDetected(t *testing.T) {
	payload := loadgen.Payload(1<<20, 9)
	want := loadgen.SumOf(payload)
	for _, tc := range []struct {
		name string
		hook engine.TransferHook
	}{
		{"download-bit-flip", corrupt(engine.Download)},
		{"upload-bit-flip", corrupt(engine.Upload)},
		{"download-truncated", truncate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg := startServer(t, bench.ServerOptions{FS: bench.MemFS, TransferHooks: []engine.TransferHook{tc.hook}})
			c := connect(t, cfg)
			if _, err := c.Stor("/x.bin", bytes.NewReader(payload)); err != nil {
				t.Fatal(err)
			}
			err := c.RetrVerify("/x.bin", want)
			if !errors.Is(err, loadgen.ErrCorrupt) {
				t.Fatalf("RetrVerify of a corrupted transfer: %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("small-files-workload", func(t *testing.T) {
		_, cfg := startServer(t, bench.ServerOptions{FS: bench.MemFS, TransferHooks: []engine.TransferHook{corrupt(engine.Download)}})
		_, err := loadgen.SmallFiles(cfg, loadgen.Workload{Workers: 2, Ops: 8}, "", loadgen.Payload(200_000, 1))
		if !errors.Is(err, loadgen.ErrCorrupt) {
			t.Fatalf("SmallFiles through a corrupting server: %v, want ErrCorrupt", err)
		}
	})
}

func TestWorkloads(t *testing.T) {
	_, cfg := startServer(t, bench.ServerOptions{})
	res, err := loadgen.SmallFiles(cfg, loadgen.Workload{Workers: 4, Ops: 40}, "", loadgen.Payload(64<<10, 1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 40 || res.Bytes != 40*64<<10 || res.Lat.Len() != 40 {
		t.Fatalf("SmallFiles: %d ops, %d bytes, %d latencies", res.Ops, res.Bytes, res.Lat.Len())
	}
	srv, fcfg := startServer(t, bench.ServerOptions{FS: bench.MemFS})
	res, err = loadgen.SmallFiles(fcfg, loadgen.Workload{Workers: 1, Ops: 6, FreshNames: true}, "", loadgen.Payload(1000, 1))
	if err != nil || res.Ops != 6 {
		t.Fatalf("SmallFiles with fresh names: %v, %d ops", err, res.Ops)
	}
	// Six operations by one worker: three uploads, each to a file of its own.
	for i := range 3 {
		if fi, err := srv.FS.Stat(fmt.Sprintf("/small-0-%d.bin", i)); err != nil || fi.Size() != 1000 {
			t.Errorf("fresh name %d: %v", i, err)
		}
	}
	if _, err := srv.FS.Stat("/small-0.bin"); err == nil {
		t.Error("FreshNames still wrote the shared name")
	}
	res, err = loadgen.Sessions(cfg, loadgen.Workload{Workers: 3, Ops: 9}, "/")
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 9 || res.Rate() <= 0 {
		t.Fatalf("Sessions: %d ops, rate %v", res.Ops, res.Rate())
	}
	c := connect(t, cfg)
	lat, err := loadgen.CommandLatency(c, "NOOP", 200, 10)
	if err != nil || lat.Len() != 10 || lat.Percentile(50) <= 0 {
		t.Fatalf("CommandLatency: %v, %d", err, lat.Len())
	}
	if _, err := loadgen.CommandLatency(c, "SIZE /missing", 213, 1); err == nil {
		t.Fatal("SIZE of a missing file succeeded")
	}
}

func TestBadLogin(t *testing.T) {
	_, cfg := startServer(t, bench.ServerOptions{FS: bench.MemFS})
	cfg.Pass = "wrong"
	var re *loadgen.ReplyError
	if _, err := loadgen.Connect(cfg); !errors.As(err, &re) || re.Reply.Code != 530 {
		t.Fatalf("Connect with a wrong password: %v", err)
	}
}
