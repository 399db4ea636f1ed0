package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ftpgate/ftpgate/bench/loadgen"
	"github.com/spf13/afero"
)

// fixture is a large payload in memory and in a file, shared by the
// benchmarks of one size.
type fixture struct {
	dir     string // holds big.bin; the OS-filesystem servers serve it
	file    string // dir/big.bin
	payload []byte
	sum     loadgen.Sum
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int64]*fixture{}
)

// TestMain removes the fixtures' directories after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, fx := range fixtures {
		_ = os.RemoveAll(fx.dir)
	}
	os.Exit(code)
}

// getFixture returns the fixture of size bytes, made on first use.
func getFixture(tb testing.TB, size int64) *fixture {
	tb.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx := fixtures[size]; fx != nil {
		return fx
	}
	dir, err := os.MkdirTemp("", "ftpgate-bench-fixture-")
	if err != nil {
		tb.Fatal(err)
	}
	fx := &fixture{dir: dir, file: filepath.Join(dir, "big.bin"), payload: loadgen.Payload(size, 42)}
	fx.sum = loadgen.SumOf(fx.payload)
	if err := os.WriteFile(fx.file, fx.payload, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		tb.Fatal(err)
	}
	fixtures[size] = fx
	return fx
}

// benchSize returns FTPGATE_BENCH_SIZE, 512 MiB by default and 16 MiB in
// short mode.
func benchSize(tb testing.TB) int64 {
	def := int64(512 << 20)
	if testing.Short() {
		def = 16 << 20
	}
	n, err := EnvSize("FTPGATE_BENCH_SIZE", def)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// xferCase is one large-transfer configuration.
type xferCase struct {
	fs  FSKind
	tls bool
}

func (c xferCase) String() string {
	if c.tls {
		return string(c.fs) + "/tls"
	}
	return string(c.fs) + "/plain"
}

var xferCases = []xferCase{{OSFS, false}, {OSFS, true}, {MemFS, false}, {MemFS, true}}

// rig is a server and a logged-in client for one xferCase, with the
// fixture in place, and the matching ceilings.
type rig struct {
	c    xferCase
	fx   *fixture
	srv  *Server
	cli  *loadgen.Client
	tlsp TLSPair
}

func newRig(tb testing.TB, c xferCase, fx *fixture) *rig {
	tb.Helper()
	opts := ServerOptions{FS: c.fs, TLS: c.tls}
	if c.fs == OSFS {
		opts.Dir = fx.dir
	}
	srv, err := StartServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	if c.fs == MemFS {
		if err := afero.WriteReader(srv.FS, "/big.bin", bytes.NewReader(fx.payload)); err != nil {
			tb.Fatal(err)
		}
	}
	r := &rig{c: c, fx: fx, srv: srv}
	if c.tls {
		s, cl, err := SelfSignedTLS()
		if err != nil {
			tb.Fatal(err)
		}
		r.tlsp = TLSPair{Server: s, Client: cl}
	}
	r.cli, err = loadgen.Connect(loadgen.Config{Addr: srv.Addr, User: User, Pass: Pass, TLS: srv.Client})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.cli.Quit() })
	return r
}

// source returns what uploads send: the file (sendfile) for the OS
// filesystem, the payload in memory for MemMapFs.
func (r *rig) source() Opener {
	if r.c.fs == OSFS {
		return OpenFile(r.fx.file)
	}
	return func() (io.Reader, error) { return bytes.NewReader(r.fx.payload), nil }
}

// ceilingRetr measures the download ceiling matching the case.
func (r *rig) ceilingRetr() (Measurement, error) {
	return CeilingDownload(r.source(), r.fx.sum, r.tlsp)
}

// ceilingStor measures the upload ceiling matching the case: splice into
// a file for the OS filesystem, into memory for MemMapFs.
func (r *rig) ceilingStor() (Measurement, error) {
	dst := ""
	if r.c.fs == OSFS {
		dst = filepath.Join(r.fx.dir, "ceiling-up.bin")
		_ = os.Remove(dst)
		defer os.Remove(dst)
	}
	return CeilingUpload(r.source(), dst, r.fx.sum, r.tlsp)
}

// retr measures one RETR of the fixture and checks its bytes.
func (r *rig) retr() (Measurement, error) {
	var got loadgen.Sum
	m, err := Measure(func() (int64, error) {
		var err error
		got, err = r.cli.Retr("/big.bin")
		return got.N, err
	})
	if err == nil {
		err = loadgen.Verify(got, r.fx.sum)
	}
	return m, err
}

// stor measures one STOR of the fixture and checks the stored bytes.
func (r *rig) stor() (Measurement, error) {
	_ = r.srv.FS.Remove("/up.bin")
	defer r.srv.FS.Remove("/up.bin")
	src, err := r.source()()
	if err != nil {
		return Measurement{}, err
	}
	defer closeIfCloser(src)
	m, err := Measure(func() (int64, error) { return r.cli.Stor("/up.bin", src) })
	if err != nil {
		return m, err
	}
	f, err := r.srv.FS.Open("/up.bin")
	if err != nil {
		return m, err
	}
	defer f.Close()
	got, err := loadgen.SumReader(f)
	if err != nil {
		return m, err
	}
	if err := loadgen.Verify(got, r.fx.sum); err != nil {
		return m, fmt.Errorf("stored file: %w", err)
	}
	return m, nil
}
