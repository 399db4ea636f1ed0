package gateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// clusterExtra is the [cluster] section of instance id on redis addr.
func clusterExtra(addr, id string) string {
	return fmt.Sprintf("[cluster]\nredis = %q\ninstance_id = %q\nlease = \"3s\"\nfanout = \"2s\"\ndeadline = \"2s\"\n", addr, id)
}

// ftpLogin logs user in on addr with jlaffaye/ftp.
func ftpLogin(t *testing.T, addr, user string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(user, "secret"); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// instances GETs /v1/cluster/instances.
func instances(t *testing.T, base string) InstancesReply {
	t.Helper()
	code, body := adminCall(t, "GET", base+"/v1/cluster/instances", opToken, nil)
	var r InstancesReply
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("GET /v1/cluster/instances: %d %s", code, body)
	}
	return r
}

// TestClusterTwoGateways (real redis-server): two gateways on one Redis.
// A's admin API lists both instances and the sessions of B's clients;
// acme's token sees only acme's session of B, and cannot end globex's;
// A ends a session held by B and the jlaffaye/ftp client reads 421. With
// Redis stopped, A's list answers within the fan-out bound with its own
// sessions and partial: true; when it comes back, both instances are
// listed and answer again.
func TestClusterTwoGateways(t *testing.T) {
	srv := redistest.Start(t)
	fa, fb := newTwoTenants(t, clusterExtra(srv.Addr(), "gw-a"), "[telemetry]\nlisten = \"127.0.0.1:0\"\n"), newTwoTenants(t, clusterExtra(srv.Addr(), "gw-b"))
	a, b := startWith(t, fa.files, Options{}), startWith(t, fb.files, Options{})
	baseA, baseB := a.AdminURL(), b.AdminURL()

	enginetest.Eventually(t, "both instances listed", func() bool { return len(instances(t, baseA).Instances) == 2 })
	in := instances(t, baseA)
	if in.Self != "gw-a" || in.Instances[1].ID != "gw-b" || in.Instances[1].Addresses.Control != b.Addr().String() ||
		in.Instances[1].Generation != 1 || in.Instances[1].Addresses.Admin == "" {
		t.Fatalf("instances %+v", in)
	}
	metrics := func() string {
		code, body := get(t, a.TelemetryURL()+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		return body
	}
	if m := metrics(); scrapeValue(m, "ftpgate_cluster_redis_up") != 1 || scrapeValue(m, `ftpgate_cluster_calls_total{feature="instances",result="ok"}`) < 1 {
		t.Fatalf("cluster metrics with Redis up:\n%s", m)
	}
	if code, _ := adminCall(t, "GET", baseA+"/v1/cluster/instances", acmeToken, nil); code != 401 {
		t.Fatalf("instances with a tenant's token: %d, want 401", code)
	}

	alice := ftpLogin(t, b.Addr().String(), "alice")
	bob := ftpLogin(t, b.Addr().String(), "bob@globex")
	carol := ftpLogin(t, a.Addr().String(), "carol")

	var all sessions.ListReply
	enginetest.Eventually(t, "B's sessions listed through A", func() bool {
		all = listSessions(t, baseA+"/v1/sessions", opToken)
		return len(all.Sessions) == 3 && !all.Partial
	})
	sa, sb, sc := findSession(all, "alice"), findSession(all, "bob@globex"), findSession(all, "carol")
	if sa == nil || sb == nil || sc == nil || sa.Tenant != "acme" || sb.Tenant != "globex" {
		t.Fatalf("list through A: %+v", all)
	}
	if got := []string{sc.ID[:5], sa.ID[:5], sb.ID[:5]}; !slices.Equal(got, []string{"gw-a.", "gw-b.", "gw-b."}) {
		t.Fatalf("ids %v: want instance-prefixed", got)
	}
	// acme's token through A: acme's sessions of both instances only.
	acme := listSessions(t, baseA+"/v1/tenants/acme/sessions", acmeToken)
	if ids := []string{}; len(acme.Sessions) != 2 || findSession(acme, "bob@globex") != nil {
		for _, s := range acme.Sessions {
			ids = append(ids, s.ID)
		}
		t.Fatalf("acme's list through A: %v", ids)
	}
	// globex's token cannot end acme's session on B, nor acme's bob's.
	codeTheirs, bodyTheirs := adminCall(t, "DELETE", baseA+"/v1/tenants/globex/sessions/"+sa.ID, globexToken, nil)
	codeNone, bodyNone := adminCall(t, "DELETE", baseA+"/v1/tenants/globex/sessions/gw-b.4000000000", globexToken, nil)
	if codeTheirs != 404 || codeTheirs != codeNone || bodyTheirs != bodyNone {
		t.Fatalf("globex ending acme's session on B: %d %s; a missing one: %d %s", codeTheirs, bodyTheirs, codeNone, bodyNone)
	}
	if code, _ := adminCall(t, "DELETE", baseA+"/v1/tenants/acme/sessions/"+sb.ID, acmeToken, nil); code != 404 {
		t.Fatalf("acme ending globex's session on B: %d", code)
	}
	if err := alice.NoOp(); err != nil {
		t.Fatalf("alice after the refused ends: %v", err)
	}
	// A ends alice's session on B; her client reads the 421.
	if code, body := adminCall(t, "DELETE", baseA+"/v1/tenants/acme/sessions/"+sa.ID, acmeToken, []byte(`{"reason":"moved"}`)); code != 200 {
		t.Fatalf("acme ending alice's session through A: %d %s", code, body)
	}
	if code, msg := ftpCode(alice.NoOp()); code != 421 || msg != "moved" {
		t.Fatalf("alice's next command: %d %s, want 421 moved", code, msg)
	}
	if err := bob.NoOp(); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if code, body := adminCall(t, "DELETE", baseB+"/v1/sessions/"+sc.ID, opToken, nil); code != 200 {
		t.Fatalf("operator ending carol's session (on A) through B: %d %s", code, body)
	}
	if code, _ := ftpCode(carol.NoOp()); code != 421 {
		t.Fatalf("carol's next command: %d, want 421", code)
	}

	// Redis stops: A still answers, with its own sessions, partial.
	carol2 := ftpLogin(t, a.Addr().String(), "carol")
	_ = carol2
	srv.Stop()
	start := time.Now()
	code, body := adminCall(t, "GET", baseA+"/v1/sessions", opToken, nil)
	took := time.Since(start)
	var l sessions.ListReply
	if code != 200 || json.Unmarshal([]byte(body), &l) != nil || !l.Partial || len(l.Sessions) != 1 || l.Sessions[0].Login != "carol" {
		t.Fatalf("list with Redis stopped: %d %s", code, body)
	}
	if took > 2*time.Second+5*time.Second { // fanout, and room for a loaded machine
		t.Fatalf("list with Redis stopped took %v", took)
	}
	if in := instances(t, baseA); !in.Stale || len(in.Instances) != 2 {
		t.Fatalf("instances with Redis stopped: %+v, want the last list, stale", in)
	}
	if m := metrics(); scrapeValue(m, "ftpgate_cluster_redis_up") != 0 || scrapeValue(m, `ftpgate_cluster_fallbacks_total{feature="sessions"}`) < 1 {
		t.Fatalf("cluster metrics with Redis stopped:\n%s", m)
	}

	// Redis comes back empty: both instances register again and answer
	// again (go-redis resubscribes), without a restart of either.
	srv.Restart()
	enginetest.Eventually(t, "instances registered again", func() bool {
		in := instances(t, baseA)
		return !in.Stale && len(in.Instances) == 2
	})
	enginetest.Eventually(t, "B answers again", func() bool {
		l := listSessions(t, baseA+"/v1/sessions", opToken)
		return !l.Partial && findSession(l, "bob@globex") != nil
	})
}
