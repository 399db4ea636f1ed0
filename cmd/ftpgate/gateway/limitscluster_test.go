package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
)

// TestClusterSharesLimits (real redis-server): two gateways with
// [cluster] on one Redis. Three failed logins from one address, spread
// over both, ban it on both (each saw fewer than the three of
// [limits]); B's admin API lists the ban, and a DELETE through A's lifts
// it on B. One session per user ([limits.user]) holds over both: alice
// logged in on B is refused on A with 421.
func TestClusterSharesLimits(t *testing.T) {
	srv := redistest.Start(t)
	extra := func(id string) string {
		return fmt.Sprintf("[cluster]\nredis = %q\ninstance_id = %q\ndeadline = \"2s\"\n[limits.user]\nmax_sessions = 1\n", srv.Addr(), id)
	}
	fa, fb := newTwoTenants(t, extra("gw-a")), newTwoTenants(t, extra("gw-b"))
	a, b := startWith(t, fa.files, Options{}), startWith(t, fb.files, Options{})
	const ip = "127.0.0.9"
	for i, g := range []*Gateway{a, b, a} {
		c, code, _ := enginetest.Dial(t, g.Addr().String(), ip)
		if code != 220 {
			t.Fatalf("attempt %d: banner %d", i+1, code)
		}
		c.Expect("USER mallory", 331)
		c.Expect("PASS wrong", 530)
	}
	for name, g := range map[string]*Gateway{"a": a, "b": b} {
		if _, code, text := enginetest.Dial(t, g.Addr().String(), ip); code != 421 || !strings.Contains(text, "failed logins") {
			t.Fatalf("%s after 3 failures over both: %d %s, want 421", name, code, text)
		}
	}
	code, body := adminCall(t, "GET", b.AdminURL()+"/v1/bans", opToken, nil)
	var bans sessions.BansReply
	if code != 200 || json.Unmarshal([]byte(body), &bans) != nil || bans.Total != 1 || bans.Bans[0].Prefix != ip+"/32" {
		t.Fatalf("GET /v1/bans on b: %d %s, want the ban", code, body)
	}
	if code, body := adminCall(t, "DELETE", a.AdminURL()+"/v1/bans/"+ip, opToken, nil); code != 200 || !strings.Contains(body, `"lifted":1`) {
		t.Fatalf("lifting through a: %d %s", code, body)
	}
	alice := enginetest.Login(t, b.Addr().String(), ip, "alice", "secret")
	if err := alice.NoOp(); err != nil {
		t.Fatal(err)
	}
	c, err := ftp.Dial(a.Addr().String(), ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "secret"); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("alice's second session, on a: %v, want 421", err)
	}
}
