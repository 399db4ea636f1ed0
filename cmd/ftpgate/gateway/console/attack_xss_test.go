package console_test

import (
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
)

// TestAttackConsoleHostileStrings: strings a client chooses (a login
// name, file names, a command's argument) reach the sessions and audit
// pages as text only: no tag, attribute or URL they spell survives
// unescaped, for the operator or the tenant's admin.
func TestAttackConsoleHostileStrings(t *testing.T) {
	f := start(t)
	const evil = `"><img src=x onerror=alert(1)><svg onload=alert(2)>javascript:alert(3)`
	c, err := ftp.Dial(f.addr, ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Login(evil, "wrong")
	_ = c.Quit()
	alice := enginetest.Login(t, f.addr, "127.0.0.2", "alice", "secret")
	_ = alice.Stor(evil+".txt", strings.NewReader("x"))
	_ = alice.Rename(evil+".txt", "/"+evil+"2.txt")
	_ = alice.MakeDir(evil)
	_, _ = alice.List(evil)

	op := f.browser(t)
	op.login("", opToken)
	ten := f.browser(t)
	ten.login("acme", acmeToken)
	for _, p := range []struct {
		b    *browser
		path string
	}{{op, "/console/audit"}, {op, "/console/overview"}, {op, "/console/sessions"}, {ten, "/console/t/acme/audit"}, {ten, "/console/t/acme/sessions"},
		{op, "/console/audit?user=" + strings.ReplaceAll(evil, " ", "+") + "&path=%22%3E%3Cimg"}} {
		r := p.b.get(p.path)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p.path, r.StatusCode)
		}
		if strings.Contains(p.path, "audit") && !strings.Contains(r.body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("GET %s: the hostile string is not shown (escaped) at all; the test would prove nothing", p.path)
		}
		for _, bad := range []string{"<img", "<svg onload", `"><img`} {
			if strings.Contains(r.body, bad) {
				i := strings.Index(r.body, bad)
				t.Errorf("GET %s: %q unescaped: …%s…", p.path, bad, r.body[max(0, i-80):min(len(r.body), i+80)])
			}
		}
	}
}
