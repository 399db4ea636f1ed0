package engine

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

	"github.com/spf13/afero"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := recv(t, accepted, "accept")
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client.(*net.TCPConn), server.(*net.TCPConn)
}

func TestUnwrapFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	osFs := afero.NewBasePathFs(afero.NewOsFs(), dir)
	nested := afero.NewBasePathFs(afero.NewBasePathFs(afero.NewOsFs(), dir), "/sub")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mem := afero.NewMemMapFs()
	ffs := newFaultFs()

	for _, tc := range []struct {
		name   string
		fs     afero.Fs
		osFile bool
	}{
		{"BasePathFs over OsFs", osFs, true},
		{"nested BasePathFs", nested, true},
		{"OsFs", afero.NewOsFs(), true},
		{"MemMapFs", mem, false},
		{"BasePathFs over MemMapFs", afero.NewBasePathFs(mem, "/base"), false},
		{"driver's own wrapper", ffs, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "/f"
			if tc.name == "OsFs" {
				name = filepath.Join(dir, "f-os")
			}
			f, err := tc.fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := unwrapFile(f)
			_, isOS := got.(*os.File)
			if isOS != tc.osFile {
				t.Fatalf("unwrapFile(%T) = %T; want *os.File: %v", f, got, tc.osFile)
			}
			if !tc.osFile {
				if _, isBase := f.(*afero.BasePathFile); !isBase && got != io.ReadWriter(f) {
					t.Fatalf("unwrapFile changed a %T it must not look through into %T", f, got)
				}
			}
		})
	}
	if got := unwrapFile(&afero.BasePathFile{}); got == nil {
		t.Fatal("a BasePathFile without a file must be returned as it is")
	}
}

// zeroCopyEnds returns the ends the zero-copy tests choose between: a
// loopback TCP pair, a temporary file and a TLS server over the server's
// end (never used, only its type), all closed when the test ends.
func zeroCopyEnds(t *testing.T) (client, server *net.TCPConn, file *os.File, tlsConn *tls.Conn) {
	t.Helper()
	client, server = tcpPair(t)
	file, err := os.CreateTemp(t.TempDir(), "zc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = file.Close() })
	return client, server, file, tls.Server(server, testTLSConfig())
}

func TestZeroCopyPossible(t *testing.T) {
	t.Parallel()
	client, server, file, tlsConn := zeroCopyEnds(t)
	memFile, err := afero.NewMemMapFs().Create("/m")
	if err != nil {
		t.Fatal(err)
	}
	limit := func(r io.Reader) io.Reader { return io.LimitReader(r, 1<<20) }

	for _, tc := range []struct {
		name string
		dst  io.Writer
		src  io.Reader
		want bool
	}{
		{"file to TCP (sendfile)", client, file, true},
		{"limited file to TCP", client, limit(file), true},
		{"doubly limited file to TCP", client, limit(limit(file)), true},
		{"TCP to file (splice)", file, server, true},
		{"limited TCP to file", file, limit(server), true},
		{"file to TLS", tlsConn, file, false},
		{"TLS to file", file, tlsConn, false},
		{"memory file to TCP", client, memFile, false},
		{"TCP to memory file", memFile, server, false},
		{"wrapped file to TCP", client, readerOnly{file}, false},
		{"file to buffer", &bytes.Buffer{}, file, false},
	} {
		if got := zeroCopyPossible(tc.dst, tc.src); got != tc.want {
			t.Errorf("%s: zeroCopyPossible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCopyChunkFlattensLimitedReaders(t *testing.T) {
	t.Parallel()
	data := pattern(100)
	for _, buf := range [][]byte{nil, make([]byte, 7)} {
		inner := &io.LimitedReader{R: bytes.NewReader(data), N: 50}
		outer := &io.LimitedReader{R: inner, N: 70}
		var dst bytes.Buffer
		n, err := copyChunk(&dst, outer, 30, buf)
		if n != 30 || err != nil || inner.N != 20 || outer.N != 40 {
			t.Fatalf("first chunk: n %d err %v, N inner %d outer %d; want 30 nil 20 40", n, err, inner.N, outer.N)
		}
		n, err = copyChunk(&dst, outer, 1000, buf)
		if n != 20 || err != nil || inner.N != 0 || outer.N != 20 {
			t.Fatalf("second chunk: n %d err %v, N inner %d outer %d; want 20 nil 0 20", n, err, inner.N, outer.N)
		}
		if n, err = copyChunk(&dst, outer, 1000, buf); n != 0 || err != io.EOF {
			t.Fatalf("exhausted limit: n %d err %v, want 0 EOF", n, err)
		}
		if !bytes.Equal(dst.Bytes(), data[:50]) {
			t.Fatalf("copied %d bytes, want the first 50", dst.Len())
		}
		// A source that ends before the chunk reports io.EOF.
		dst.Reset()
		if n, err := copyChunk(&dst, bytes.NewReader(data), 1000, buf); n != 100 || err != io.EOF {
			t.Fatalf("short source: n %d err %v, want 100 EOF", n, err)
		}
	}
}

// zeroCopyProbe is a TransferHook that meters with io.LimitReader and
// records whether the base copy gets a pair that zero-copy can use.
type zeroCopyProbe struct {
	mu       sync.Mutex
	possible []bool
	bytes    []int64
}

func (p *zeroCopyProbe) hook(_ *Transfer, next CopyFunc) CopyFunc {
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		src = io.LimitReader(src, 1<<62)
		possible := zeroCopyPossible(dst, src)
		n, err := next(ctx, dst, src)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.possible = append(p.possible, possible)
		p.bytes = append(p.bytes, n)
		return n, err
	}
}

func (p *zeroCopyProbe) last(t testing.TB) (bool, int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.possible) == 0 {
		t.Fatal("no transfer went through the hook")
	}
	i := len(p.possible) - 1
	return p.possible[i], p.bytes[i]
}

func TestZeroCopyTransfersOverOsFs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	probe := &zeroCopyProbe{}
	ts := newTestServer(t, withFs(afero.NewBasePathFs(afero.NewOsFs(), dir)),
		onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{probe.hook} }))
	c := ts.login(t)
	content := pattern(32 << 20)

	c.stor("big.bin", content)
	if possible, n := probe.last(t); !possible || n != int64(len(content)) {
		t.Fatalf("STOR over the OS filesystem: zero-copy %v, %d bytes", possible, n)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "big.bin"))
	if err != nil || !bytes.Equal(onDisk, content) {
		t.Fatalf("file on disk: %d bytes (%v), want %d byte-exact", len(onDisk), err, len(content))
	}

	if got := c.retr("big.bin"); !bytes.Equal(got, content) {
		t.Fatalf("RETR got %d bytes, want %d byte-exact", len(got), len(content))
	}
	if possible, n := probe.last(t); !possible || n != int64(len(content)) {
		t.Fatalf("RETR over the OS filesystem: zero-copy %v, %d bytes", possible, n)
	}

	// A resumed download starts at the offset, still without copying.
	offset := len(content) - 123_457
	c.expect(fmt.Sprintf("REST %d", offset), 350)
	data := c.epsv()
	c.expect("RETR big.bin", 150)
	if got := expectClosed(t, data, "data connection"); !bytes.Equal(got, content[offset:]) {
		t.Fatalf("REST RETR got %d bytes", len(got))
	}
	c.expectRead(226)
	if possible, _ := probe.last(t); !possible {
		t.Fatal("REST RETR did not get a zero-copy pair")
	}

	// TYPE A converts line endings, so it must copy through a buffer.
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.expect("TYPE A", 200)
	if got := c.retr("small.txt"); string(got) != "a\r\nb\r\n" {
		t.Fatalf("TYPE A RETR got %q", got)
	}
	if possible, _ := probe.last(t); possible {
		t.Fatal("an ASCII transfer was offered to zero-copy")
	}
}

func TestNoZeroCopyOverMemMapFs(t *testing.T) {
	t.Parallel()
	probe := &zeroCopyProbe{}
	ts := newTestServer(t, onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{probe.hook} }))
	c := ts.login(t)
	content := pattern(1 << 20)
	c.stor("f", content)
	if possible, n := probe.last(t); possible || n != int64(len(content)) {
		t.Fatalf("STOR over MemMapFs: zero-copy %v, %d bytes", possible, n)
	}
	if got := c.retr("f"); !bytes.Equal(got, content) {
		t.Fatalf("RETR got %d bytes", len(got))
	}
	if possible, _ := probe.last(t); possible {
		t.Fatal("RETR over MemMapFs was offered to zero-copy")
	}
}

func TestNoZeroCopyOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	probe := &zeroCopyProbe{}
	ts := newTestServer(t, withTLS(), withFs(afero.NewBasePathFs(afero.NewOsFs(), dir)),
		onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{probe.hook} }))
	cfg := clientTLSConfig()
	c := ts.dialExplicitTLS(t, "TLS", cfg)
	c.protectedLogin()
	content := pattern(2 << 20)
	c.storTLS("f", content, cfg)
	if possible, n := probe.last(t); possible || n != int64(len(content)) {
		t.Fatalf("STOR over TLS: zero-copy %v, %d bytes", possible, n)
	}
	if got := c.retrTLS("f", cfg); !bytes.Equal(got, content) {
		t.Fatalf("RETR over TLS got %d bytes", len(got))
	}
	if possible, _ := probe.last(t); possible {
		t.Fatal("RETR over TLS was offered to zero-copy")
	}
}
