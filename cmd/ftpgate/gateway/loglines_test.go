package gateway

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
)

// jsonLines decodes a JSON log.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// loginLines are the log lines at info level or above about logins.
func loginLines(lines []map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		msg, _ := l["msg"].(string)
		if l["level"] != "DEBUG" && (strings.Contains(msg, "logged in") || strings.Contains(msg, "login failed")) {
			out = append(out, l)
		}
	}
	return out
}

// TestOneLineALogin: in the main log (JSON, as [log] format = "json"
// makes it) a failed login and a successful one each give one line at
// info level, with the tenant, the account, the name as typed, the
// client's address and the result (a failure with its reason); a limiter
// refusal names the tenant when it is known (here the server's one
// tenant, before any login); a duration is written in milliseconds.
func TestOneLineALogin(t *testing.T) {
	f := newFiles(t)
	f.write(t, "[timeouts]\nlogin_failure_delay = \"0s\"\n[log]\nformat = \"json\"\n[limits]\nconn_per_ip = 1\n", "")
	cfg, err := Load(f.server)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g := startWith(t, f, Options{Logger: cfg.Logger(logs), Tenant: "acme"})
	addr := g.Addr().String()

	bad, err := ftp.Dial(addr, ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Login("alice@acme", "wrong"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	quit(t, bad)
	enginetest.Eventually(t, "the failed session's end", func() bool { return len(g.Server().Sessions()) == 0 })

	c := enginetest.Login(t, addr, "127.0.0.1", "alice", "secret")
	// A second connection from the address is refused at admission.
	refused, _, _ := enginetest.Dial(t, addr, "127.0.0.1")
	refused.ExpectClosed()
	quit(t, c)
	cfg.Logger(logs).Info("probe", "grace", 1500*time.Millisecond)

	lines := jsonLines(t, logs.String())
	got := loginLines(lines)
	if len(got) != 2 {
		t.Fatalf("%d login lines at info, want 2:\n%s", len(got), logs.String())
	}
	for i, want := range []map[string]any{
		{"msg": "tenancy: login failed", "tenant": "acme", "user": "alice", "login": "alice@acme", "result": "failed", "reason": "wrong password"},
		{"msg": "tenancy: logged in", "tenant": "acme", "user": "alice", "login": "alice", "result": "ok"},
	} {
		for k, v := range want {
			if got[i][k] != v {
				t.Errorf("login line %d: %s = %v, want %v: %v", i, k, got[i][k], v, got[i])
			}
		}
		if r, _ := got[i]["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") || got[i]["session"] == nil {
			t.Errorf("login line %d without the address or session: %v", i, got[i])
		}
	}
	var refusal, probe map[string]any
	for _, l := range lines {
		switch l["msg"] {
		case "ratelimit: refused":
			refusal = l
		case "probe":
			probe = l
		}
	}
	if refusal == nil || refusal["tenant"] != "acme" {
		t.Errorf("the refusal line does not name the tenant: %v", refusal)
	}
	if probe["grace_ms"] != 1500.0 || probe["grace"] != nil {
		t.Errorf("a duration in the JSON log: %v", probe)
	}
}
