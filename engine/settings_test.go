package engine

import (
	"errors"
	"net"
	"testing"
)

// Settings.Listener, when given, is what ListenAndServe serves; the
// ListenAddr is then unused.
func TestSettingsListenerIsServed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, d := newIdleServer()
	d.settings.Listener = ln
	d.settings.ListenAddr = "256.0.0.1:1" // would fail if it were used
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	ts := &testServer{srv: srv, driver: d, addr: ln.Addr().String()}
	c := ts.login(t)
	c.expect("NOOP", 200)
	if got := srv.Addr(); got == nil || got.String() != ln.Addr().String() {
		t.Fatalf("Addr %v, want %v", got, ln.Addr())
	}
	_ = srv.Close()
	if err := recv(t, served, "ListenAndServe"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe returned %v", err)
	}
}

// DefaultTransferType applies until the client sends TYPE, and again
// after REIN.
func TestDefaultTransferTypeASCII(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.DefaultTransferType = TransferTypeASCII }))
	ptWriteFile(t, ts.driver.fs, "/f.txt", []byte("a\nb\n"))
	c := ts.login(t)
	if got := c.retr("f.txt"); string(got) != "a\r\nb\r\n" {
		t.Fatalf("download with the ASCII default: %q", got)
	}
	c.expect("TYPE I", 200)
	if got := c.retr("f.txt"); string(got) != "a\nb\n" {
		t.Fatalf("download after TYPE I: %q", got)
	}
	c.expect("REIN", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if got := c.retr("f.txt"); string(got) != "a\r\nb\r\n" {
		t.Fatalf("download after REIN: %q", got)
	}
}
