package policy

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// clusterNode is one instance of a test cluster: a runtime following the
// shared store, and its admin API.
type clusterNode struct {
	rt    *Runtime
	store *RedisStore
	admin *httptest.Server
	logs  *logBuffer
}

// newClusterNode starts an instance on the Redis at addr; every is its
// reconcile period. The node stops with the test.
func newClusterNode(t *testing.T, addr string, failOpen bool, every time.Duration) *clusterNode {
	t.Helper()
	rt, logs := newTestRuntime(t, Config{})
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	store := NewRedisStore(RedisOptions{Client: client, Prefix: "ftpgate:", Deadline: 500 * time.Millisecond, FailOpen: failOpen}, rt.Config().MaxModuleSize, rt.cfg.Logger)
	restoring := Restore(context.Background(), store, rt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); store.Follow(ctx, rt, every, restoring) }()
	restoring.Wait(context.Background())
	t.Cleanup(func() { cancel(); <-done })
	n := &clusterNode{rt: rt, store: store, logs: logs}
	n.admin = newAdminServer(t, &AdminHandler{Runtime: rt, Store: store, Logger: rt.cfg.Logger})
	return n
}

// within fails the test unless cond holds within d, polling.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// propagation is the bound the cluster promises: a policy uploaded
// through one instance rules on every instance within 2 s.
const propagation = 2 * time.Second

// testPolicyPropagates: a policy uploaded through A's admin API refuses
// DELE on B within 2 s (the notification; B's reconcile is far off), A
// does not compile its own upload a second time, the generation counts
// the change, and a DELETE through B lifts it on A.
func testPolicyPropagates(t *testing.T, addr string) {
	a := newClusterNode(t, addr, true, time.Hour)
	b := newClusterNode(t, addr, true, time.Hour)
	if d := eval(b.rt, "acme", "DELE", "/x"); d.Action != Allow {
		t.Fatalf("DELE on B before any upload: %+v", d)
	}
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy?on_error=deny", testmod.Example()); code != 200 {
		t.Fatalf("PUT through A: %d %s", code, body)
	}
	within(t, propagation, "B refuses DELE", func() bool { return eval(b.rt, "acme", "DELE", "/x").Code == 550 })
	if d := eval(a.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("DELE on A: %+v", d)
	}
	// A compiled the upload once: its own notification found the module
	// installed (B's line shows what a second compile would log).
	within(t, propagation, "B's log line", func() bool { return strings.Contains(b.logs.String(), "installed (shared store)") })
	if l := a.logs.String(); strings.Contains(l, "installed (shared store)") {
		t.Fatalf("A compiled its own upload again:\n%s", l)
	}
	if g, err := a.store.Generation(); err != nil || g != 1 {
		t.Fatalf("generation after one upload: %d %v", g, err)
	}
	if code, body := adminDo(t, b.admin, "GET", "/v1/tenants/acme/policy", nil); code != 200 || !strings.Contains(body, hashOf(testmod.Example())) {
		t.Fatalf("GET through B: %d %s", code, body)
	}
	// The same module for another tenant is stored once.
	if code, body := adminDo(t, b.admin, "PUT", "/v1/tenants/globex/policy", testmod.Example()); code != 200 {
		t.Fatalf("PUT through B: %d %s", code, body)
	}
	within(t, propagation, "A refuses globex's DELE", func() bool { return eval(a.rt, "globex", "DELE", "/x").Code == 550 })
	if code, _ := adminDo(t, b.admin, "DELETE", "/v1/tenants/acme/policy", nil); code != 204 {
		t.Fatalf("DELETE through B: %d", code)
	}
	within(t, propagation, "A allows acme's DELE again", func() bool { return eval(a.rt, "acme", "DELE", "/x").Action == Allow })
	if d := eval(a.rt, "globex", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("globex's policy after acme's removal: %+v", d)
	}
}

// testReconcileRepairs: with publishing suppressed, B learns of A's upload
// from its periodic reconcile alone.
func testReconcileRepairs(t *testing.T, addr string) {
	a := newClusterNode(t, addr, true, time.Hour)
	a.store.noPublish = true
	b := newClusterNode(t, addr, true, 100*time.Millisecond)
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy", testmod.Example()); code != 200 {
		t.Fatalf("PUT through A: %d %s", code, body)
	}
	within(t, propagation, "B's reconcile installs the policy", func() bool { return eval(b.rt, "acme", "DELE", "/x").Code == 550 })
	if code, _ := adminDo(t, a.admin, "DELETE", "/v1/tenants/acme/policy", nil); code != 204 {
		t.Fatalf("DELETE through A: %d", code)
	}
	within(t, propagation, "B's reconcile removes the policy", func() bool { return eval(b.rt, "acme", "DELE", "/x").Action == Allow })
}

func TestRedisPolicyPropagatesMiniredis(t *testing.T) {
	t.Parallel()
	testPolicyPropagates(t, miniredis.RunT(t).Addr())
}

func TestRedisPolicyReconcileMiniredis(t *testing.T) {
	t.Parallel()
	testReconcileRepairs(t, miniredis.RunT(t).Addr())
}

// TestRedisPolicyHostileStore: what another party wrote into Redis is not
// trusted. Bytes that do not match the record's hash, and a module that
// the instance's bounds refuse, end quarantined: the tenant's subscribed
// commands are refused with 451, the mark is shared, and a new upload
// lifts it.
func TestRedisPolicyHostileStore(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	b := newClusterNode(t, mr.Addr(), true, 50*time.Millisecond)
	good := testmod.Example()
	// A record whose module bytes were swapped behind the store's back.
	if err := b.store.Save("acme", good, Record{OnError: "allow", Subscriptions: []string{"DELE"}}); err != nil {
		t.Fatal(err)
	}
	within(t, propagation, "acme installed", func() bool { return eval(b.rt, "acme", "DELE", "/x").Code == 550 })
	// A module over B's size bound, stored by a looser instance.
	loose := NewRedisStore(b.store.opts, 1<<30, nil)
	big := append(append([]byte{}, testmod.Example()...), make([]byte, b.rt.Config().MaxModuleSize)...)
	if err := loose.Save("globex", big, Record{OnError: "allow", Subscriptions: []string{"MKD"}}); err != nil {
		t.Fatal(err)
	}
	within(t, propagation, "globex quarantined", func() bool {
		st, ok := b.rt.Pending("globex")
		return ok && st.State == "quarantined"
	})
	if d := eval(b.rt, "globex", "MKD", "/x"); d.Code != 451 {
		t.Fatalf("MKD of a quarantined tenant: %+v", d)
	}
	// Tampered bytes for a new record: the hash check refuses them.
	if err := loose.Save("initech", []byte("\x00asm\x01\x00\x00\x00"), Record{OnError: "allow", Subscriptions: []string{"RMD"}}); err != nil {
		t.Fatal(err)
	}
	mr.Set("ftpgate:pol:m:"+hashOf([]byte("\x00asm\x01\x00\x00\x00")), "not the bytes")
	if _, _, err := b.store.Load("initech"); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("Load of tampered bytes: %v", err)
	}
	// A fresh instance reads the shared quarantine mark of globex.
	c := newClusterNode(t, mr.Addr(), true, time.Hour)
	st, ok := c.rt.Pending("globex")
	if !ok || st.State != "quarantined" || !strings.Contains(st.Reason, "limit") {
		t.Fatalf("globex on a new instance: %+v %v", st, ok)
	}
	if code, body := adminDo(t, c.admin, "PUT", "/v1/tenants/globex/policy", good); code != 200 {
		t.Fatalf("new upload: %d %s", code, body)
	}
	within(t, propagation, "B lifts globex's quarantine", func() bool {
		_, pending := b.rt.Pending("globex")
		return !pending && eval(b.rt, "globex", "MKD", "/x").Action == Allow && eval(b.rt, "globex", "DELE", "/x").Code == 550
	})
}

// TestRedisPolicyFailModes: an instance that starts while Redis is down
// refuses every command with 451 when failing closed, serves when failing
// open, and in both cases takes the stored policies once Redis is back,
// without a restart. Once read, policies go on ruling through an outage.
func TestRedisPolicyFailModes(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	a := newClusterNode(t, mr.Addr(), true, time.Hour)
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy", testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	addr := mr.Addr()
	mr.Close()
	closed := newClusterNode(t, addr, false, 50*time.Millisecond)
	open := newClusterNode(t, addr, true, 50*time.Millisecond)
	if d := eval(closed.rt, "globex", "CWD", "/"); d.Code != 451 || !strings.Contains(d.Message, "cannot be read") {
		t.Fatalf("fail closed, Redis down: %+v", d)
	}
	if d := eval(open.rt, "acme", "DELE", "/x"); d.Action != Allow {
		t.Fatalf("fail open, Redis down: %+v", d)
	}
	if d := eval(a.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("an instance that read the store, during the outage: %+v", d)
	}
	if code, _ := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy", testmod.Example()); code != 500 {
		t.Fatalf("PUT during the outage: %d", code)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*clusterNode{closed, open} {
		within(t, 5*time.Second, "the store read after Redis is back", func() bool {
			return eval(n.rt, "acme", "DELE", "/x").Code == 550 && eval(n.rt, "globex", "CWD", "/").Action == Allow
		})
	}
}

func TestRedisPolicyPropagatesRedisServer(t *testing.T) {
	t.Parallel()
	testPolicyPropagates(t, redistest.Start(t).Addr())
}

func TestRedisPolicyReconcileRedisServer(t *testing.T) {
	t.Parallel()
	testReconcileRepairs(t, redistest.Start(t).Addr())
}

// TestRedisPolicyRestartRedisServer: a Redis with appendonly yes, as the
// store asks, restarted: the instances keep ruling through the outage, a
// PUT meanwhile fails and changes nothing, and after the restart the
// store still holds the policy and a new upload reaches every instance.
// Restarted without its data, the policies in force stay.
func TestRedisPolicyRestartRedisServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	a := newClusterNode(t, srv.Addr(), false, 100*time.Millisecond)
	b := newClusterNode(t, srv.Addr(), false, 100*time.Millisecond)
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy", testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	within(t, propagation, "B refuses DELE", func() bool { return eval(b.rt, "acme", "DELE", "/x").Code == 550 })
	srv.Stop()
	if d := eval(b.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("B during the outage: %+v", d)
	}
	if code, _ := adminDo(t, a.admin, "DELETE", "/v1/tenants/acme/policy", nil); code != 500 {
		t.Fatalf("DELETE during the outage: %d", code)
	}
	srv.Restart()
	if _, rec, err := b.store.Load("acme"); err != nil || rec.SHA256 != hashOf(testmod.Example()) {
		t.Fatalf("the policy after a restart with appendonly: %+v %v", rec, err)
	}
	if code, body := adminDo(t, b.admin, "PUT", "/v1/tenants/acme/policy?on_error=allow", testmod.Respond(testmod.DenyResponse(553, "no"), "MKD")); code != 200 {
		t.Fatalf("PUT after the restart: %d %s", code, body)
	}
	within(t, propagation, "A takes B's upload after the restart", func() bool { return eval(a.rt, "acme", "MKD", "/x").Code == 553 })
}

// TestRedisPolicyRollback: with the shared store, a rollback through B's
// admin API puts back on A and B the module A's last upload replaced,
// with its on_error, and a second rollback undoes the first.
func TestRedisPolicyRollback(t *testing.T) {
	t.Parallel()
	addr := miniredis.RunT(t).Addr()
	a := newClusterNode(t, addr, true, time.Hour)
	b := newClusterNode(t, addr, true, time.Hour)
	if code, body := adminDo(t, b.admin, "POST", "/v1/tenants/acme/policy/rollback", nil); code != 404 {
		t.Fatalf("rollback without a policy: %d %s", code, body)
	}
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy?on_error=deny", testmod.Example()); code != 200 {
		t.Fatalf("PUT example: %d %s", code, body)
	}
	if code, body := adminDo(t, b.admin, "POST", "/v1/tenants/acme/policy/rollback", nil); code != 404 {
		t.Fatalf("rollback after one upload: %d %s", code, body)
	}
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy?on_error=allow", testmod.ReturnPacked(0)); code != 200 {
		t.Fatalf("PUT allow-all: %d %s", code, body)
	}
	within(t, propagation, "B allows DELE", func() bool { return eval(b.rt, "acme", "DELE", "/x").Action == Allow })
	code, body := adminDo(t, b.admin, "POST", "/v1/tenants/acme/policy/rollback", nil)
	if code != 200 || !strings.Contains(body, `"on_error":"deny"`) {
		t.Fatalf("rollback through B: %d %s", code, body)
	}
	for name, n := range map[string]*clusterNode{"A": a, "B": b} {
		within(t, propagation, name+" refuses DELE after the rollback", func() bool { return eval(n.rt, "acme", "DELE", "/x").Code == 550 })
	}
	if code, body := adminDo(t, a.admin, "POST", "/v1/tenants/acme/policy/rollback", nil); code != 200 || !strings.Contains(body, `"on_error":"allow"`) {
		t.Fatalf("second rollback through A: %d %s", code, body)
	}
	within(t, propagation, "B allows DELE after the second rollback", func() bool { return eval(b.rt, "acme", "DELE", "/x").Action == Allow })
}

// TestRedisPolicyKeepsOtherPolicies: the reconcile removes the policies
// the store dropped (here deleted without a notification), never one the
// instance got otherwise (a start policy, `serve --policy`).
func TestRedisPolicyKeepsOtherPolicies(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	a := newClusterNode(t, mr.Addr(), true, 50*time.Millisecond)
	a.rt.Install("local", mustCompile(t, a.rt, testmod.Example()), Settings{})
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy", testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	quiet := NewRedisStore(a.store.opts, a.rt.Config().MaxModuleSize, nil)
	quiet.noPublish = true
	if err := quiet.Delete("acme"); err != nil {
		t.Fatal(err)
	}
	within(t, propagation, "acme's policy removed by the reconcile", func() bool { return eval(a.rt, "acme", "DELE", "/x").Action == Allow })
	if d := eval(a.rt, "local", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("the start policy after the reconcile: %+v", d)
	}
}

// TestRedisPolicyDeletedBeforeRead: a policy uploaded through this
// instance and deleted elsewhere before its follower read the record is
// still taken away when the follower hears of the tenant (it was the
// store's, not a start policy). A's own upload publishes nothing here, so
// the follower's first word of acme is the notification after the
// delete.
func TestRedisPolicyDeletedBeforeRead(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	a := newClusterNode(t, mr.Addr(), true, time.Hour)
	a.store.noPublish = true
	if code, body := adminDo(t, a.admin, "PUT", "/v1/tenants/acme/policy", testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if d := eval(a.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("DELE after the upload: %+v", d)
	}
	other := NewRedisStore(a.store.opts, a.rt.Config().MaxModuleSize, nil)
	if err := other.Delete("acme"); err != nil {
		t.Fatal(err)
	}
	within(t, propagation, "acme's policy removed after the delete elsewhere", func() bool { return eval(a.rt, "acme", "DELE", "/x").Action == Allow })
}
