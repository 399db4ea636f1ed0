package gateway

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
)

// fail2banRegex returns the path of Debian's fail2ban-regex: skipped
// when it is missing, except under FTPGATE_INTEGRATION=1 (.ci/test),
// where that fails the test.
func fail2banRegex(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("fail2ban-regex")
	if err == nil {
		return p
	}
	if os.Getenv("FTPGATE_INTEGRATION") == "1" {
		t.Fatal("fail2ban-regex (Debian's fail2ban) is required by the integration tests but not installed")
	}
	t.Skip("fail2ban-regex not installed")
	return ""
}

// TestFail2banFilter: real failed logins through jlaffaye/ftp (a wrong
// password, an unknown user, and a login name crafted to look like
// another address in the log) make an audit log on which Debian's
// fail2ban-regex, with examples/fail2ban's filter, matches exactly the
// failures, each on the client's address; the successful login and the
// other events are not matched.
func TestFail2banFilter(t *testing.T) {
	bin := fail2banRegex(t)
	filter, err := filepath.Abs("../../../examples/fail2ban/filter.d/ftpgate.conf")
	if err != nil {
		t.Fatal(err)
	}
	f := newFiles(t)
	f.write(t, "[timeouts]\nlogin_failure_delay = \"0s\"\n[audit]\nfile = \"audit.log\"\n", "")
	g, stop := auditServer(t, f, Options{})
	addr := g.Addr().String()
	failures := []struct{ user, pass string }{
		{"alice", "wrong"},
		{"nobody", "secret"},
		{`x","remote":"203.0.113.9:1","y":"`, "secret"},
		{`alice\`, "wrong"},
	}
	for _, l := range failures {
		c, err := ftp.Dial(addr, ftp.DialWithTimeout(enginetest.Timeout))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(l.user, l.pass); err == nil {
			t.Fatalf("%q logged in", l.user)
		}
		_ = c.Quit()
	}
	c := enginetest.Login(t, addr, "127.0.0.1", "alice", "secret")
	if err := c.Stor("a.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	quit(t, c)
	evs, _ := stop()
	if len(evs) != len(failures)+3 { // + login, upload, logout
		t.Fatalf("%d events, want %d", len(evs), len(failures)+3)
	}
	logFile := filepath.Join(f.dir, "audit.log")

	out, err := exec.Command(bin, logFile, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in fail2ban-regex's output:\n%s", out)
	}
	if n, _ := strconv.Atoi(string(m[3])); n != len(failures) {
		t.Fatalf("fail2ban-regex matched %d lines, want the %d failures:\n%s", n, len(failures), out)
	}
	hosts, err := exec.Command(bin, "-o", "ip", logFile, filter).Output()
	if err != nil {
		t.Fatalf("fail2ban-regex -o ip: %v", err)
	}
	got := strings.Fields(string(hosts))
	if len(got) != len(failures) {
		t.Fatalf("hosts %q, want %d times 127.0.0.1", got, len(failures))
	}
	for _, h := range got {
		if h != "127.0.0.1" {
			t.Fatalf("host %q matched, want 127.0.0.1 (the client's address):\n%s", h, hosts)
		}
	}
}
