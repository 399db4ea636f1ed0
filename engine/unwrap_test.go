package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/spf13/afero"
)

// Wrappers as a plugin writes them: they change one thing, forward no
// extension, and say what they wrap.

// fsWrapper wraps a filesystem and unwraps as afero.Fs.
type fsWrapper struct{ afero.Fs }

func (w fsWrapper) Unwrap() afero.Fs { return w.Fs }

// driverFsWrapper wraps a filesystem and unwraps as ClientDriver.
type driverFsWrapper struct{ ClientDriver }

func (w driverFsWrapper) Unwrap() ClientDriver { return w.ClientDriver }

// selfWrapper unwraps to itself, as a buggy wrapper might.
type selfWrapper struct{ afero.Fs }

func (w *selfWrapper) Unwrap() afero.Fs { return w }

// mainWrapper wraps a MainDriver.
type mainWrapper struct{ MainDriver }

func (w mainWrapper) Unwrap() MainDriver { return w.MainDriver }

// extFullFs answers AVBL and a SITE subcommand, and asks for TLS data
// connections when protected is set.
type extFullFs struct {
	afero.Fs
	protected bool
}

func (extFullFs) GetAvailableSpace(string) (int64, error) { return 4242, nil }

func (extFullFs) Site(cc ClientContext, command, arg string) (int, string, bool) {
	if command == "WHO" {
		return 200, "You are " + cc.User(), true
	}
	return 0, "", false
}

func (fs extFullFs) RequireProtectedData() bool { return fs.protected }

func TestClientDriverExtensionsThroughTwoUnwraps(t *testing.T) {
	t.Parallel()
	inner := extFullFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fsWrapper{driverFsWrapper{inner}}))
	c := ts.login(t)
	if got := c.expect("AVBL", 213); got != "4242" {
		t.Fatalf("AVBL through two wrappers: %q", got)
	}
	if !extHasFeature(t, c, "AVBL") {
		t.Fatal("FEAT does not list AVBL for a wrapped driver that has it")
	}
	if got := c.expect("SITE WHO", 200); got != "You are test" {
		t.Fatalf("SITE through two wrappers: %q", got)
	}
	c.expect("SITE NOSUCH", 504)
}

func TestProtectedDataThroughUnwrap(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withFs(driverFsWrapper{fsWrapper{extFullFs{Fs: afero.NewMemMapFs(), protected: true}}}))
	c := ts.login(t)
	c.epsv()
	c.expect("LIST", 521)
}

func TestUnwrapCycleEnds(t *testing.T) {
	t.Parallel()
	w := &selfWrapper{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(w))
	c := ts.login(t)
	c.expect("AVBL", 502)
	if _, ok := clientDriverExt[ClientDriverExtensionSite](w); ok {
		t.Fatal("found an extension nobody has")
	}
}

func TestMainDriverExtensionsThroughTwoUnwraps(t *testing.T) {
	t.Parallel()
	var wd *wrappingDriver
	ts := newTestServer(t, func(d *testDriver, srv *Server) {
		wd = &wrappingDriver{testDriver: d}
		srv.Driver = mainWrapper{mainWrapper{&hostWrappingDriver{wd}}}
	})
	writeFile(t, ts.driver.fs, "/f", []byte("wrapped"))
	c := ts.dial(t)
	c.expect("HOST elsewhere.example", 504)
	c.expect("HOST ftp.example", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if got := c.retr("f"); string(got) != "wrapped" {
		t.Fatalf("RETR got %q", got)
	}
	if n := wd.accepted.Load(); n != 1 {
		t.Fatalf("the passive wrapper two levels down accepted %d connections, want 1", n)
	}
}

// hostWrappingDriver adds CheckHost to a wrappingDriver.
type hostWrappingDriver struct{ *wrappingDriver }

func (d *hostWrappingDriver) CheckHost(_ ClientContext, host string) error {
	if host != "ftp.example" {
		return errors.New("unknown host")
	}
	return nil
}

func TestCertificateLoginIsNotFoundThroughUnwrap(t *testing.T) {
	t.Parallel()
	// A wrapper that checks logins in AuthUser must not be passed by the
	// wrapped driver's certificate login.
	ts := newTestServer(t, withTLS(), func(d *testDriver, srv *Server) {
		d.tlsConfig.ClientAuth = tls.RequireAnyClientCert
		srv.Driver = mainWrapper{&certDriver{testDriver: d}}
	})
	c := ts.dial(t)
	c.expect("AUTH TLS", 234)
	cfg := clientTLS(tls.VersionTLS13)
	cfg.Certificates = []tls.Certificate{clientCertificate(t, "test")}
	tconn := tls.Client(c.conn, cfg)
	if err := tconn.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tconn, bufio.NewReader(tconn)
	c.expect("USER test", 331) // a password, not 232
}

// openCountFs counts the opens of its OpenFile.
type openCountFs struct {
	afero.Fs
	opens atomic.Int32
}

func (fs *openCountFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	fs.opens.Add(1)
	return fs.Fs.OpenFile(name, flag, perm)
}

func (fs *openCountFs) Unwrap() afero.Fs { return fs.Fs }

func TestFileHandlesAndHashesAreNotFoundThroughUnwrap(t *testing.T) {
	t.Parallel()
	// The inner filesystem opens handles and computes digests itself; the
	// wrapper's OpenFile must still see every transfer and digest.
	inner := &altFs{Fs: afero.NewMemMapFs()}
	outer := &openCountFs{Fs: inner}
	ts := newTestServer(t, withFs(outer), withSettings(func(s *Settings) { s.EnableHASH = true }))
	writeFile(t, inner.Fs, "/f", []byte("content"))
	c := ts.login(t)
	if got := c.retr("f"); string(got) != "content" {
		t.Fatalf("RETR got %q", got)
	}
	if n := outer.opens.Load(); n != 1 {
		t.Fatalf("the wrapper's OpenFile saw %d opens for RETR, want 1", n)
	}
	c.expect("HASH f", 213)
	if h, d := inner.handles.Load(), inner.hashes.Load(); h != 0 || d != 0 {
		t.Fatalf("the wrapped filesystem's GetHandle ran %d times and ComputeHash %d times", h, d)
	}
}

// altFs opens transfer handles and computes digests itself.
type altFs struct {
	afero.Fs
	handles, hashes atomic.Int32
}

func (fs *altFs) GetHandle(name string, flags int, _ int64) (FileTransfer, error) {
	fs.handles.Add(1)
	return fs.Fs.OpenFile(name, flags, 0o666)
}

func (fs *altFs) ComputeHash(string, HASHAlgo, int64, int64) (string, error) {
	fs.hashes.Add(1)
	return "00", nil
}

// errFile learns of its transfer's failure.
type errFile struct {
	afero.File
	errs chan error
}

func (f *errFile) TransferError(err error) { f.errs <- err }

// fileWrapper wraps a handle and unwraps as afero.File.
type fileWrapper struct{ afero.File }

func (f fileWrapper) Unwrap() afero.File { return f.File }

// wrappedHandleFs opens handles that wrap an errFile.
type wrappedHandleFs struct {
	afero.Fs
	errs chan error
}

func (fs wrappedHandleFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := fs.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return fileWrapper{fileWrapper{&errFile{File: f, errs: fs.errs}}}, nil
}

func TestFileTransferErrorThroughUnwrap(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 1)
	fs := wrappedHandleFs{Fs: afero.NewMemMapFs(), errs: errs}
	ts := newTestServer(t, withFs(fs), onServer(func(srv *Server) {
		srv.TransferHooks = []TransferHook{func(*Transfer, CopyFunc) CopyFunc {
			return func(ctx context.Context, _ io.Writer, _ io.Reader) (int64, error) {
				return 0, Refuse(552, "Quota exceeded.")
			}
		}}
	}))
	c := ts.login(t)
	data := c.epsv()
	c.expect("STOR up", 150)
	_ = data.Close()
	c.expectRead(552)
	var re *ReplyError
	if err := recv(t, errs, "TransferError two handles down"); !errors.As(err, &re) || re.Code != 552 {
		t.Fatalf("TransferError got %v", err)
	}
}

func TestUnwrapLookupsDirectly(t *testing.T) {
	t.Parallel()
	// Deeper than the bound, the extension is not found.
	var fs afero.Fs = extFullFs{Fs: afero.NewMemMapFs()}
	for range maxUnwrapDepth - 1 {
		fs = fsWrapper{fs}
	}
	if _, ok := clientDriverExt[ClientDriverExtensionAvailableSpace](fs); !ok {
		t.Fatalf("not found %d wrappers down", maxUnwrapDepth-1)
	}
	if _, ok := clientDriverExt[ClientDriverExtensionAvailableSpace](fsWrapper{fs}); ok {
		t.Fatalf("found %d wrappers down, past the bound", maxUnwrapDepth)
	}
	// A wrapper's own method wins over the wrapped one's.
	outer := extSpaceOverride{fsWrapper{extFullFs{Fs: afero.NewMemMapFs()}}}
	ext, _ := clientDriverExt[ClientDriverExtensionAvailableSpace](outer)
	if n, _ := ext.GetAvailableSpace("/"); n != -7 {
		t.Fatal("the wrapped filesystem's method was used over the wrapper's")
	}
	// Unwrap to nil ends the search.
	if _, ok := mainDriverExt[MainDriverExtensionHost](mainWrapper{}); ok {
		t.Fatal("found an extension below a nil driver")
	}
	if _, ok := fileExt[FileTransferError](fileWrapper{}); ok {
		t.Fatal("found an extension below a nil handle")
	}
}

// extSpaceOverride answers AVBL itself.
type extSpaceOverride struct{ fsWrapper }

func (extSpaceOverride) GetAvailableSpace(string) (int64, error) { return -7, nil }
