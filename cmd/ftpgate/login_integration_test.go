package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// itRawLogin connects to addr from the loopback address from, sends HOST
// host when not empty, then USER login and PASS pass, and returns the
// reply to PASS.
func itRawLogin(t *testing.T, addr, from, host, login, pass string) string {
	t.Helper()
	d := net.Dialer{Timeout: itTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(itTimeout))
	r := bufio.NewReader(conn)
	read := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "EOF"
			}
			if len(line) >= 4 && line[3] == ' ' {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	cmd := func(format string, args ...any) string {
		fmt.Fprintf(conn, format+"\r\n", args...)
		return read()
	}
	read() // banner
	if host != "" {
		if got := cmd("HOST %s", host); !strings.HasPrefix(got, "220") {
			t.Fatalf("HOST %s: %s", host, got)
		}
	}
	cmd("USER %s", login)
	return cmd("PASS %s", pass)
}

// TestIntegrationLoginFailuresPerAccount: with login_failures = 3, three
// failures on alice of acme spelled three ways (tenant id in capitals, a
// host name, HOST) from three addresses spend her account's attempts:
// curl with her right password from a fourth address gets 421, while
// globex's alice logs in.
func TestIntegrationLoginFailuresPerAccount(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startTenantServer(t, "[limits]\nlogin_failures = 3\nban = \"1h\"\n")
	for i, v := range []struct{ host, login string }{
		{"", "alice@ACME"}, {"", "alice@ftp.acme.test"}, {"localhost", "alice"},
	} {
		if got := itRawLogin(t, s.addr, fmt.Sprintf("127.0.0.%d", 31+i), v.host, v.login, "wrong"); !strings.HasPrefix(got, "530") {
			t.Fatalf("failure %d as %s: %s, want 530", i+1, v.login, got)
		}
	}
	out := runClientFails(t, curl, "-sSv", "--max-time", "30", "--interface", "127.0.0.40", "-u", "alice@acme:acme-pw", "ftp://"+s.addr+"/")
	if !strings.Contains(out, "< 421") {
		t.Fatalf("acme's alice from a fresh address after three failures: %s, want 421", out)
	}
	runClient(t, curl, "-sS", "--max-time", "30", "--interface", "127.0.0.41", "-u", "alice@globex:globex-pw", "ftp://"+s.addr+"/")
}

// TestIntegrationLftpHostAddress: lftp connected by address sends HOST
// with it; the server accepts it without a log line and the login's
// user@tenant chooses the tenant.
func TestIntegrationLftpHostAddress(t *testing.T) {
	lftp := requireTool(t, "lftp")
	s := startTenantServer(t)
	host, port, _ := net.SplitHostPort(s.addr)
	src := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(src, []byte("by address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "set net:max-retries 1; set net:timeout 15; set cmd:fail-exit yes; set ftp:ssl-allow no; set ftp:use-site-utime no; " +
		"debug 3; open -u alice@globex,globex-pw -p " + port + " ftp://" + host + "; put " + src + " -o a.txt; bye"
	out := runClient(t, lftp, "-c", script)
	if !strings.Contains(out, "Host "+host+" accepted") {
		t.Fatalf("lftp did not send HOST %s:\n%s", host, out)
	}
	got, err := os.ReadFile(filepath.Join(s.dir, "data/globex/a.txt"))
	if err != nil || string(got) != "by address\n" {
		t.Fatalf("globex's copy: %q %v", got, err)
	}
	log := s.stderr.String()
	for _, bad := range []string{"HOST refused", "Unknown host", "level=WARN"} {
		if strings.Contains(log, bad) {
			t.Errorf("server log holds %q:\n%s", bad, log)
		}
	}
}
