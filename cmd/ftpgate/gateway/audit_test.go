package gateway

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
	"github.com/jlaffaye/ftp"
)

// auditServer runs a gateway of f until stop, which shuts it down (so
// that every session ended and the logs were flushed) and returns the
// audit log's events and the xferlog's lines.
func auditServer(t *testing.T, f *files, opts Options) (g *Gateway, stop func() ([]map[string]any, []string)) {
	t.Helper()
	g, cfg := newGateway(t, f, opts)
	ran := runGateway(g)
	stopped := false
	stop = func() ([]map[string]any, []string) {
		t.Helper()
		if !stopped {
			stopped = true
			stopGateway(t, g, ran)
		}
		return readEvents(t, cfg.Audit.File), readLines(t, cfg.Audit.Xferlog)
	}
	t.Cleanup(func() { stop() })
	return g, stop
}

// stallUpload starts STOR name through EPSV on c, a logged-in control
// connection from 127.0.0.1: once STOR is answered 150 it sends 1000
// bytes and leaves the data connection open (until t ends), so the
// transfer stays running.
func stallUpload(t *testing.T, c *enginetest.Conn, name string) {
	t.Helper()
	msg := c.Expect("EPSV", 229)
	port := msg[strings.Index(msg, "|||")+3 : strings.LastIndex(msg, "|")]
	data, err := enginetest.Dialer("127.0.0.1").Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = data.Close() })
	c.Expect("STOR "+name, 150)
	if _, err := data.Write([]byte(strings.Repeat("x", 1000))); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func readEvents(t *testing.T, file string) []map[string]any {
	t.Helper()
	if file == "" {
		return nil
	}
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// expectEvents compares events with want field by field: each want
// entry lists the fields that must be there with these values (numbers
// as float64, as JSON decodes them), and "-" for a field that must be
// absent. Every event must have a unique id, a time, a remote address and
// a duration.
func expectEvents(t *testing.T, got []map[string]any, want []map[string]any) {
	t.Helper()
	expectEventsFrom(t, got, "127.0.0.1:", want)
}

// expectEventsFrom is expectEvents for a client whose address starts
// with remote.
func expectEventsFrom(t *testing.T, got []map[string]any, remote string, want []map[string]any) {
	t.Helper()
	ids := map[any]bool{}
	for i, e := range got {
		if r, _ := e["remote"].(string); ids[e["id"]] || e["id"] == nil || e["time"] == nil || e["duration_ms"] == nil || !strings.HasPrefix(r, remote) {
			t.Errorf("event %d: id, time, duration or remote wrong: %v", i, e)
		}
		ids[e["id"]] = true
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%v", e)
		}
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		for k, v := range w {
			gv, has := got[i][k]
			if v == "-" {
				if has {
					t.Errorf("event %d (%v): %s = %v, want none", i, got[i]["verb"], k, gv)
				}
				continue
			}
			if !has || gv != v {
				t.Errorf("event %d (%v): %s = %v, want %v", i, got[i]["verb"], k, gv, v)
			}
		}
	}
}

// quit ends c's session after a NOOP, whose reply says that the command
// before it is done (jlaffaye's Quit does not wait for QUIT's reply, so
// a shutdown right after it could answer 421 beside the last command).
func quit(t *testing.T, c *ftp.ServerConn) {
	t.Helper()
	if err := c.NoOp(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
}

const auditConf = "[timeouts]\nlogin_failure_delay = \"0s\"\n[audit]\nfile = \"audit.log\"\nxferlog = \"xfer.log\"\n"

// TestAuditUploadDeleteRename: through real clients, a failed login, a
// login, an upload, DELE, RNFR+RNTO and the end of the session give
// exactly these audit lines (paths inside the tenant, the rename as one
// event with both paths), and the upload one xferlog line.
func TestAuditUploadDeleteRename(t *testing.T) {
	f := newFiles(t)
	f.write(t, auditConf, "")
	g, stop := auditServer(t, f, Options{})
	addr := g.Addr().String()

	bad, err := ftp.Dial(addr, ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Login("alice", "wrong"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	// The result hooks run after the reply: the NOOP's reply says that
	// the failure's event is out before the next session logs in.
	quit(t, bad)

	c := enginetest.Login(t, addr, "127.0.0.1", "alice", "secret")
	if err := c.Stor("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("a.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("b.txt", strings.NewReader("world!")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("b.txt", "c.txt"); err != nil {
		t.Fatal(err)
	}
	quit(t, c)
	evs, xfer := stop()
	who := map[string]any{"tenant": "acme", "user": "alice", "login": "alice"}
	with := func(m map[string]any) map[string]any {
		for k, v := range who {
			m[k] = v
		}
		return m
	}
	expectEvents(t, evs, []map[string]any{
		{"event": "login", "status": "failed", "code": 530.0, "login": "alice", "tenant": "acme", "user": "alice", "method": "password", "verb": "PASS"},
		with(map[string]any{"event": "login", "status": "ok", "code": 230.0, "method": "password", "verb": "PASS"}),
		with(map[string]any{"event": "transfer", "status": "ok", "verb": "STOR", "path": "/a.txt", "direction": "upload", "bytes": 5.0, "code": 226.0, "decision": "-"}),
		with(map[string]any{"event": "command", "status": "ok", "verb": "DELE", "path": "/a.txt", "code": 250.0}),
		with(map[string]any{"event": "transfer", "status": "ok", "verb": "STOR", "path": "/b.txt", "bytes": 6.0, "code": 226.0}),
		with(map[string]any{"event": "command", "status": "ok", "verb": "RENAME", "path": "/b.txt", "to": "/c.txt", "code": 250.0}),
		with(map[string]any{"event": "logout", "status": "ok", "bytes": 11.0, "code": "-"}),
	})
	if len(xfer) != 2 {
		t.Fatalf("xferlog: %q", xfer)
	}
	for i, want := range []string{" 5 /a.txt b _ i r alice@acme ftp 0 * c", " 6 /b.txt b _ i r alice@acme ftp 0 * c"} {
		if w := strings.Fields(xfer[i]); len(w) != 18 || w[6] != "127.0.0.1" || !strings.HasSuffix(xfer[i], want) {
			t.Errorf("xferlog line %d: %q, want ...127.0.0.1%s", i, xfer[i], want)
		}
	}
}

// TestAuditRefusedByPolicy: a command the tenant's policy refuses is
// audited with its code, the policy's decision and the rule it named;
// a command it allows has decision allow.
func TestAuditRefusedByPolicy(t *testing.T) {
	f := newFiles(t)
	f.write(t, "[audit]\nfile = \"audit.log\"\n[timeouts]\nlogin_failure_delay = \"0s\"\n", "")
	deny := abi.AppendResponse(nil, &abi.Response{Action: abi.ActionDeny, Code: 553, Message: "no new directories", Annotations: []string{"rule=no-mkdir"}})
	g, stop := auditServer(t, f, Options{Policies: []StartPolicy{{Tenant: "acme", Wasm: testmod.Respond(deny, "MKD")}}})
	c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	if err := c.MakeDir("d"); err == nil || !strings.Contains(err.Error(), "553") {
		t.Fatalf("MKD: %v, want 553", err)
	}
	if err := c.Delete("nothing.txt"); err == nil {
		t.Logf("DELE: %v", err)
		t.Fatal("DELE of a missing file succeeded")
	}
	quit(t, c)
	evs, _ := stop()
	expectEvents(t, evs, []map[string]any{
		{"event": "login", "status": "ok"},
		{"event": "command", "status": "failed", "verb": "MKD", "path": "/d", "code": 553.0, "decision": "deny", "rule": "no-mkdir"},
		{"event": "command", "status": "failed", "verb": "DELE", "path": "/nothing.txt", "code": 550.0, "decision": "-", "rule": "-"},
		{"event": "logout"},
	})
}

// TestAuditAbortedUpload: an upload cut by ABOR (426) is audited as a
// failed transfer with the code 426, never as complete, and its xferlog
// line says incomplete.
func TestAuditAbortedUpload(t *testing.T) {
	f := newFiles(t)
	f.write(t, auditConf, "")
	g, stop := auditServer(t, f, Options{})
	c, _, _ := enginetest.Dial(t, g.Addr().String(), "127.0.0.1")
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	stallUpload(t, c, "big.bin")
	enginetest.Eventually(t, "a running transfer", func() bool {
		for _, si := range g.Server().Sessions() {
			if si.Transfer != nil {
				return true
			}
		}
		return false
	})
	c.Send("ABOR")
	if code, msg := c.Read(); code != 426 {
		t.Fatalf("STOR after ABOR: %d %s", code, msg)
	}
	if code, msg := c.Read(); code != 226 {
		t.Fatalf("ABOR: %d %s", code, msg)
	}
	c.Expect("QUIT", 221)
	evs, xfer := stop()
	expectEvents(t, evs, []map[string]any{
		{"event": "login", "status": "ok"},
		{"event": "transfer", "status": "failed", "verb": "STOR", "path": "/big.bin", "code": 426.0, "direction": "upload"},
		{"event": "logout"},
	})
	if len(xfer) != 1 || !strings.HasSuffix(xfer[0], " /big.bin b _ i r alice@acme ftp 0 * i") {
		t.Fatalf("xferlog: %q", xfer)
	}
}

// TestAuditBehindBalancerAndChanges: behind a trusted balancer (a PROXY
// header) the audit names the client's address from the header and the
// balancer's own; MKD, SITE CHMOD, MFMT (and MDTM with a time), RMD and a
// refused RNFR are audited as their operations; the password is in no
// line.
func TestAuditBehindBalancerAndChanges(t *testing.T) {
	f := newFiles(t)
	f.write(t, auditConf+"[proxy_protocol]\nmode = \"required\"\ntrusted = [\"127.0.0.0/8\"]\n", "")
	g, stop := auditServer(t, f, Options{})
	conn, err := enginetest.Dialer("127.0.0.1").Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 5000 21\r\n")); err != nil {
		t.Fatal(err)
	}
	c := enginetest.NewConn(t, conn)
	if code, msg := c.Read(); code != 220 {
		t.Fatalf("banner: %d %s", code, msg)
	}
	balancer := conn.LocalAddr().String()
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	c.Expect("MKD d", 257)
	c.Expect("SITE CHMOD 700 d", 200)
	c.Expect("MFMT 20200102030405 d", 213)
	c.Expect("MDTM 20210102030405 d", 213)
	c.Expect("RMD d", 250)
	c.Expect("RNFR missing", 550)
	c.Expect("QUIT", 221)
	evs, _ := stop()
	cmd := func(verb, path string, code float64) map[string]any {
		return map[string]any{"event": "command", "verb": verb, "path": path, "code": code, "remote": "203.0.113.7:5000", "balancer": balancer}
	}
	expectEventsFrom(t, evs, "203.0.113.7:", []map[string]any{
		{"event": "login", "status": "ok", "remote": "203.0.113.7:5000", "balancer": balancer},
		cmd("MKD", "/d", 257),
		cmd("SITE CHMOD", "/d", 200),
		cmd("MFMT", "/d", 213),
		cmd("MFMT", "/d", 213),
		cmd("RMD", "/d", 250),
		{"event": "command", "verb": "RENAME", "status": "failed", "path": "/missing", "code": 550.0, "to": "-"},
		{"event": "logout", "balancer": balancer},
	})
	b, _ := os.ReadFile(filepath.Join(f.dir, "audit.log"))
	if strings.Contains(string(b), "secret") {
		t.Fatalf("the password is in the audit log:\n%s", b)
	}
}

// TestAuditConfig: [audit] errors are reported on their key and line;
// relative paths start at the server file's directory and "-" stays.
func TestAuditConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.toml")
	const tenants = "[tenants]\ndir = \".\"\n"
	_, err := Parse(file, []byte(tenants+"[audit]\nfile = \"a.log\"\nxferlog = \"a.log\"\nformat = \"xml\"\n"))
	want := "server.toml:5: audit.xferlog: the same file as file: give each log a file of its own\nserver.toml:6: audit.format: \"xml\": want json or text"
	if err == nil || strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	cfg, err := Parse(file, []byte(tenants+"[audit]\nfile = \"logs/audit.log\"\nxferlog = \"-\"\nformat = \"text\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audit.File != filepath.Join(dir, "logs", "audit.log") || cfg.Audit.Xferlog != "-" || cfg.Audit.Format != "text" {
		t.Fatalf("audit %+v", cfg.Audit)
	}
}
