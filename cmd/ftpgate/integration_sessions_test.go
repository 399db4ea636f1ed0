package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sessionsClient is a Python ftplib session that logs in, says "ready",
// then on each line from stdin sends PWD and prints the reply or the
// error it got.
const sessionsClient = `
import ftplib, sys
f = ftplib.FTP()
f.connect(sys.argv[1], int(sys.argv[2]), timeout=60)
f.login(sys.argv[3], sys.argv[4])
print("ready", flush=True)
for _ in sys.stdin:
    try:
        print("ok", f.pwd(), flush=True)
    except Exception as e:
        print("error", e, flush=True)
        break
`

// TestIntegrationSessions runs CONFIG.md's curl examples against the
// binary: curl lists a live ftplib session, ends it with a reason, and
// ftplib's next command gets 421 and that reason; the ban list answers.
func TestIntegrationSessions(t *testing.T) {
	curl := requireTool(t, "curl")
	python := requireTool(t, "python3")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	const token = "integration-operator-token"
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeLoopbackPort(t)
	srv := startServer(t, "127.0.0.1", "--policy-dir", filepath.Join(dir, "policies"),
		"--admin-listen", admin, "--admin-token-file", tokenFile)
	host, port := srv.hostPort()

	cmd := exec.Command(python, "-c", sessionsClient, host, port, itUser, itPassword)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the ftplib client ended")
			}
			return l
		case <-time.After(itTimeout):
			t.Fatal("the ftplib client said nothing")
		}
		return ""
	}
	if l := next(); l != "ready" {
		t.Fatalf("ftplib: %q", l)
	}
	auth := "Authorization: Bearer " + token
	base := "http://" + admin

	var list struct {
		Sessions []struct {
			ID, Tenant, User, Address string
		}
	}
	out := runClient(t, curl, "-sS", "-H", auth, base+"/v1/sessions?limit=100")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Sessions) != 1 {
		t.Fatalf("GET /v1/sessions: %v\n%s", err, out)
	}
	s := list.Sessions[0]
	if s.Tenant != "default" || s.User != itUser || !strings.HasPrefix(s.Address, "127.0.0.1:") {
		t.Fatalf("the session: %+v", s)
	}
	if out := runClient(t, curl, "-sS", "-H", auth, base+"/v1/tenants/default/sessions"); !strings.Contains(out, `"id":"`+s.ID+`"`) {
		t.Fatalf("GET /v1/tenants/default/sessions:\n%s", out)
	}
	out = runClient(t, curl, "-sS", "-X", "DELETE", "-H", auth, "-d", `{"reason":"maintenance at 22:00"}`, base+"/v1/sessions/"+s.ID)
	if !strings.Contains(out, `"ended":"`+s.ID+`"`) {
		t.Fatalf("DELETE: %s", out)
	}
	if _, err := io.WriteString(stdin, "pwd\n"); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "error 421 maintenance at 22:00" {
		t.Fatalf("ftplib after the DELETE: %q, want the 421 and the reason", l)
	}
	if out := runClient(t, curl, "-sS", "-H", auth, base+"/v1/bans"); strings.TrimSpace(out) != `{"bans":[],"total":0}` {
		t.Fatalf("GET /v1/bans: %s", out)
	}
	if out := runClient(t, curl, "-sS", "-X", "DELETE", "-H", auth, base+"/v1/bans/203.0.113.7"); !strings.Contains(out, `"code":"no_ban"`) {
		t.Fatalf("DELETE /v1/bans: %s", out)
	}
}
