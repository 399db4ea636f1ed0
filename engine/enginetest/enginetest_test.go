package enginetest_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"
)

// memDriver serves one MemMapFs to the user "u" with password "p".
type memDriver struct {
	fs    afero.Fs
	tls   *tls.Config
	ended atomic.Int32
}

func (d *memDriver) GetSettings() (*engine.Settings, error) { return &engine.Settings{}, nil }
func (d *memDriver) ClientConnected(engine.ClientContext) (string, error) {
	return "hello", nil
}
func (d *memDriver) ClientDisconnected(engine.ClientContext) { d.ended.Add(1) }
func (d *memDriver) GetTLSConfig() (*tls.Config, error)      { return d.tls, nil }
func (d *memDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == "u" && pass == "p" {
		return d.fs, nil
	}
	return nil, errors.New("no")
}

func start(t *testing.T) (*memDriver, *enginetest.Server) {
	d := &memDriver{fs: afero.NewMemMapFs(), tls: enginetest.TLSConfig(t)}
	return d, enginetest.Start(t, &engine.Server{Driver: d, Logger: slog.New(slog.DiscardHandler)})
}

// TestRawConn: the banner, single- and multi-line replies, a refused
// password, and the close after QUIT, as the raw client reads them.
func TestRawConn(t *testing.T) {
	t.Parallel()
	d, srv := start(t)
	c, code, text := enginetest.Dial(t, srv.Addr, "127.0.0.2")
	if code != 220 || text != "hello" {
		t.Fatalf("banner: %d %q", code, text)
	}
	feat := c.Expect("FEAT", 211)
	if !strings.Contains(feat, "\n") || !strings.Contains(feat, "UTF8") {
		t.Fatalf("FEAT not read whole: %q", feat)
	}
	c.Expect("USER u", 331)
	c.Expect("PASS wrong", 530)
	c.Expect("USER u", 331)
	c.Expect("PASS p", 230)
	c.Expect("QUIT", 221)
	c.ExpectClosed()
	enginetest.Eventually(t, "the session's end", func() bool { return d.ended.Load() == 1 })
}

// TestLoginOverTLS: the jlaffaye/ftp client stores and reads back a file
// over explicit TLS with TLSConfig's certificate.
func TestLoginOverTLS(t *testing.T) {
	t.Parallel()
	d, srv := start(t)
	c := enginetest.Login(t, srv.Addr, "", "u", "p",
		ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
	want := bytes.Repeat([]byte("x"), 70_000)
	if err := c.Stor("f", bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if got, err := afero.ReadFile(d.fs, "/f"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("on disk: %d bytes, %v", len(got), err)
	}
	r, err := c.Retr("f")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}
