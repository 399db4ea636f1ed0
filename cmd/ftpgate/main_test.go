package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVersionAndHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "ftpgate "},
		{[]string{"help"}, 0, "ftpgate serve [flags]"},
		{[]string{"--help"}, 0, "ftpgate serve [flags]"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.out) {
			t.Errorf("%v: stdout %q lacks %q", tc.args, stdout.String(), tc.out)
		}
	}
}

func TestUsageErrorsExitTwoWithAReason(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--listen", "nowhere"}, `--listen: "nowhere": want HOST:PORT`},
		{[]string{"serve", "--user", "alice"}, "want NAME:PASSWORD"},
		{[]string{"serve", "--user", "a:b", "--user", "a:c"}, `user "a" given twice`},
		{[]string{"serve", "--passive-ports", "60000-50000"}, "LOW must not be above HIGH"},
		{[]string{"serve", "--passive-ports", "80-90"}, "from 1024 to 65535"},
		{[]string{"serve", "--passive-ports", "lots"}, "want LOW-HIGH"},
		{[]string{"serve", "--public-host", "::1"}, `--public-host: "::1" is not an IPv4 address`},
		{[]string{"serve", "--tls-cert", "c.pem"}, "cert and key go together"},
		{[]string{"serve", "--log-format", "xml"}, "want text or json"},
		{[]string{"serve", "--log-level", "loud"}, "want debug, info, warn or error"},
		{[]string{"serve", "--connection-timeout", "0"}, "--connection-timeout: \"0s\": want a positive duration"},
		{[]string{"serve", "--root", root, "extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.msg)
		}
	}
}

func TestUnreadableCertificateExitsOne(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--root", dir, "--listen", "127.0.0.1:0",
		"--tls-cert", cert, "--tls-key", cert}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "flags: tls: ") || !strings.Contains(stderr.String(), "PEM") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// runningServe is `ftpgate serve` running in-process.
type runningServe struct {
	addr     string
	password string // the demo password, when one was printed
	signals  chan os.Signal
	exit     chan int
	stderr   *bytes.Buffer
}

var (
	passwordLine  = regexp.MustCompile(`^ftpgate: user "demo" password: (\S+) \(shown once\)$`)
	listeningAddr = regexp.MustCompile(`^ftpgate: listening on (\S+)$`)
)

// startServe runs serve with args and waits for its listening line.
func startServe(t *testing.T, args ...string) *runningServe {
	t.Helper()
	return startServeArgs(t, append([]string{"--listen", "127.0.0.1:0", "--log-level", "error"}, args...)...)
}

// startServeArgs is startServe without the default flags.
func startServeArgs(t *testing.T, args ...string) *runningServe {
	t.Helper()
	pr, pw := io.Pipe()
	rs := &runningServe{signals: make(chan os.Signal, 2), exit: make(chan int, 1), stderr: &bytes.Buffer{}}
	go func() {
		rs.exit <- serve(context.Background(), args, pw, io.Discard, rs.signals)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := passwordLine.FindStringSubmatch(sc.Text()); m != nil {
			rs.password = m[1]
		}
		if m := listeningAddr.FindStringSubmatch(sc.Text()); m != nil {
			rs.addr = m[1]
			break
		}
	}
	if rs.addr == "" {
		t.Fatalf("serve exited with %d before listening", <-rs.exit)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		select {
		case rs.signals <- syscall.SIGTERM:
		default:
		}
		select {
		case <-rs.exit:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return rs
}

// stop sends a signal and returns serve's exit status.
func (rs *runningServe) stop(t *testing.T) int {
	t.Helper()
	rs.signals <- syscall.SIGTERM
	select {
	case code := <-rs.exit:
		rs.exit <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after a signal")
		return -1
	}
}

// ftpConn is a minimal control connection client.
type ftpConn struct {
	t *testing.T
	*textproto.Conn
}

// dialFTP connects and reads the banner.
func dialFTP(t *testing.T, addr string) *ftpConn {
	t.Helper()
	return dialFTPWithHeader(t, addr, "")
}

// expect sends a command (none when line is empty) and checks the reply code.
func (c *ftpConn) expect(code int, line string) string {
	c.t.Helper()
	if line != "" {
		if err := c.PrintfLine("%s", line); err != nil {
			c.t.Fatal(err)
		}
	}
	got, msg, err := c.ReadResponse(0)
	if got != code {
		c.t.Fatalf("%q: got %d %s (%v), want %d", line, got, msg, err, code)
	}
	return msg
}

func TestServeEmbeddedDefaultMakesDemoUserAndStopsOnSignal(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	rs := startServe(t, "--root", root)
	if len(rs.password) < 16 {
		t.Fatalf("demo password %q printed too short", rs.password)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("root not created as a 0750 directory: %v %v", fi, err)
	}

	bad := dialFTP(t, rs.addr)
	bad.expect(331, "USER demo")
	bad.expect(530, "PASS wrong")

	c := dialFTP(t, rs.addr)
	c.expect(331, "USER demo")
	c.expect(230, "PASS "+rs.password)
	c.expect(257, "MKD made-by-test")
	if fi, err := os.Stat(filepath.Join(root, "made-by-test")); err != nil || !fi.IsDir() {
		t.Fatalf("MKD did not reach the root directory: %v", err)
	}
	tlsConn := dialFTP(t, rs.addr)
	tlsConn.expect(234, "AUTH TLS") // the self-signed certificate is offered

	if code := rs.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	if _, err := net.DialTimeout("tcp", rs.addr, time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestServeUsersFlagReplacesDemo(t *testing.T) {
	rs := startServe(t, "--root", t.TempDir(), "--user", "alice:pw1", "--user", "bob:pw:with:colons")
	if rs.password != "" {
		t.Fatal("a demo password was printed although users were given")
	}
	for user, pass := range map[string]string{"alice": "pw1", "bob": "pw:with:colons"} {
		c := dialFTP(t, rs.addr)
		c.expect(331, "USER "+user)
		c.expect(230, "PASS "+pass)
	}
	c := dialFTP(t, rs.addr)
	c.expect(331, "USER demo")
	c.expect(530, "PASS anything")
}

func TestServeSecondSignalClosesStuckTransfer(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 64<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := startServe(t, "--root", root, "--user", "u:p", "--shutdown-timeout", "1h")
	c := dialFTP(t, rs.addr)
	c.expect(331, "USER u")
	c.expect(230, "PASS p")
	msg := c.expect(229, "EPSV")
	port := msg[strings.Index(msg, "|||")+3 : strings.LastIndex(msg, "|")]
	host, _, _ := net.SplitHostPort(rs.addr)
	data, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	c.expect(150, "RETR big") // and never read: the transfer is stuck

	rs.signals <- syscall.SIGTERM // graceful: would wait an hour for the transfer
	if code := rs.stop(t); code != 0 {
		t.Fatalf("exit %d after the second signal, want 0", code)
	}
}
