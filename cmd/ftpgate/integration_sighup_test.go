package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIntegrationSIGHUPWithoutConfig: `ftpgate serve` with flags only
// (no --config) takes SIGHUP, as logrotate's postrotate sends it, logs
// that it re-read its files and that flags need a restart, and goes on
// serving curl; it still stops cleanly on SIGTERM (startServer's cleanup
// checks the exit).
func TestIntegrationSIGHUPWithoutConfig(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startServer(t, "127.0.0.1")
	src := filepath.Join(t.TempDir(), "src.bin")
	sum := writeFile(t, src, 200<<10, "sighup")
	auth := itUser + ":" + itPassword
	const logged = "reloaded: files re-read; every other setting comes from a flag, and flags change only on restart"

	for i := 1; i <= 2; i++ {
		if err := s.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitForLogAlive(t, s, logged, i)
		name := "after-hup-" + strconv.Itoa(i) + ".bin"
		runClient(t, curl, "-sS", "-u", auth, "-T", src, s.url("ftp", name))
		sameFile(t, filepath.Join(s.root, name), sum)
		out := filepath.Join(t.TempDir(), name)
		runClient(t, curl, "-sS", "-u", auth, "-o", out, s.url("ftp", name))
		sameFile(t, out, sum)
	}
}

// waitForLogAlive waits until the server's log holds part n times,
// failing at once when the process is gone. The log comes through a
// pipe copied by os/exec, so a bounded poll is the only way to wait.
func waitForLogAlive(t *testing.T, s *itServer, part string, n int) {
	t.Helper()
	deadline := time.Now().Add(itTimeout)
	for strings.Count(s.stderr.String(), part) < n {
		// Signal 0 checks that the process exists; it fails once the
		// process ended and os/exec reaped it.
		if err := s.proc.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("ftpgate is gone (%v); log:\n%s", err, s.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ftpgate never logged %q %d times:\n%s", part, n, s.stderr)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// TestIntegrationSIGHUPRereadsFlagCertificate: in flag mode SIGHUP reads
// --tls-cert and --tls-key again: a new TLS handshake gets the
// certificate now in the files.
func TestIntegrationSIGHUPRereadsFlagCertificate(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(cn string) {
		_, c, k := pki.client(t, cn, false)
		for from, to := range map[string]string{c: certFile, k: keyFile} {
			b, err := os.ReadFile(from)
			if err == nil {
				err = os.WriteFile(to, b, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	served := func(addr string) string {
		tc := tls.Client(authTLS(t, addr), &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		return tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	install("first")
	s := startServer(t, "127.0.0.1", "--tls-cert", certFile, "--tls-key", keyFile)
	if cn := served(s.addr); cn != "first" {
		t.Fatalf("certificate %q before SIGHUP", cn)
	}
	install("second")
	if err := s.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLogAlive(t, s, "reloaded: files re-read", 1)
	if cn := served(s.addr); cn != "second" {
		t.Fatalf("certificate %q after SIGHUP, want the new one", cn)
	}
}
