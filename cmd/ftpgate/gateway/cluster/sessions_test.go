package cluster

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// fakeLocal is an instance's own sessions: ids "1".."n", with tenants.
// leak makes its List ignore the tenant (a filter that fails), so that
// the asking instance's own check shows.
type fakeLocal struct {
	mu      sync.Mutex
	tenants []string // tenant of session i+1
	leak    bool
	ended   []string // "tenant/id/reason"
}

func (f *fakeLocal) List(_ context.Context, q sessions.Query) ([]sessions.Session, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	after := 0
	if q.After != "" {
		after, _ = strconv.Atoi(q.After)
	}
	page := []sessions.Session{}
	for i, tn := range f.tenants {
		id := i + 1
		if id <= after || (!f.leak && q.Tenant != "" && tn != q.Tenant) {
			continue
		}
		if len(page) == q.Limit {
			return page, page[len(page)-1].ID, nil
		}
		page = append(page, sessions.Session{ID: strconv.Itoa(id), Tenant: tn, User: "u" + strconv.Itoa(id)})
	}
	return page, "", nil
}

func (f *fakeLocal) End(_ context.Context, tenant, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > len(f.tenants) || (tenant != "" && f.tenants[n-1] != tenant) || f.tenants[n-1] == "" {
		return sessions.ErrNotFound
	}
	f.ended = append(f.ended, tenant+"/"+id+"/"+reason)
	f.tenants[n-1] = "" // gone
	return nil
}

type node struct {
	rt    *Runtime
	reg   *Registry
	local *fakeLocal
	sess  *SessionRegistry
}

func startNode(t *testing.T, addr, id string, tenants ...string) *node {
	n := &node{rt: newRuntime(t, addr, id, func(c *Config) { c.Fanout = conf.Duration(2 * time.Second) }), local: &fakeLocal{tenants: tenants}}
	n.reg = n.rt.NewRegistry(info(1))
	n.reg.Start()
	n.sess = n.rt.StartSessions(n.reg, n.local)
	t.Cleanup(func() { n.sess.Stop(); n.reg.Stop(context.Background()) })
	return n
}

func listIDs(page []sessions.Session) []string {
	out := []string{}
	for _, s := range page {
		out = append(out, s.ID)
	}
	return out
}

// waitSubscribed waits until every node's subscription answers (go-redis
// subscribes in the background).
func waitSubscribed(t *testing.T, asker *node, want int) {
	eventually(t, 30*time.Second, "every instance answers", func() bool {
		_, _, cov, err := asker.sess.ListCluster(context.Background(), sessions.Query{Limit: 1})
		return err == nil && !cov.Partial && len(ids(t, asker.reg)) == want
	})
}

// TestClusterSessions (real redis-server): a's registry lists the
// sessions of a and b in id order, pages through them, keeps a tenant's
// list to that tenant even when b's filter leaks, and ends b's session
// through b, for its tenant only.
func TestClusterSessions(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.Addr(), "a", "acme", "globex")
	b := startNode(t, srv.Addr(), "b", "globex", "acme", "acme")
	waitSubscribed(t, a, 2)
	ctx := context.Background()

	page, next, cov, err := a.sess.ListCluster(ctx, sessions.Query{Limit: 100})
	if err != nil || next != "" || cov.Partial || !slices.Equal(listIDs(page), []string{"a.1", "a.2", "b.1", "b.2", "b.3"}) {
		t.Fatalf("list = %v next %q cov %+v err %v", listIDs(page), next, cov, err)
	}
	// Pages of two walk the cluster.
	var all []string
	after := ""
	for range 10 {
		page, next, _, err := a.sess.ListCluster(ctx, sessions.Query{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, listIDs(page)...)
		if next == "" {
			break
		}
		after = next
	}
	if !slices.Equal(all, []string{"a.1", "a.2", "b.1", "b.2", "b.3"}) {
		t.Fatalf("pages = %v", all)
	}
	// A tenant sees its own sessions only, even when b's filter leaks.
	b.local.mu.Lock()
	b.local.leak = true
	b.local.mu.Unlock()
	page, _, _, err = a.sess.ListCluster(ctx, sessions.Query{Tenant: "acme", Limit: 100})
	if err != nil || !slices.Equal(listIDs(page), []string{"a.1", "b.2", "b.3"}) {
		t.Fatalf("acme's list = %v, %v", listIDs(page), err)
	}
	// Ends: another tenant's session is not found; its own is ended on b.
	if err := a.sess.End(ctx, "acme", "b.1", "bye"); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("acme ending globex's b.1: %v", err)
	}
	if err := a.sess.End(ctx, "acme", "b.2", "bye"); err != nil {
		t.Fatalf("acme ending b.2: %v", err)
	}
	if err := a.sess.End(ctx, "", "zz.1", "bye"); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("an unknown instance: %v", err)
	}
	if err := a.sess.End(ctx, "", "a.2", "local"); err != nil {
		t.Fatalf("a's own: %v", err)
	}
	b.local.mu.Lock()
	defer b.local.mu.Unlock()
	if !slices.Equal(b.local.ended, []string{"acme/2/bye"}) || !slices.Equal(a.local.ended, []string{"/2/local"}) {
		t.Fatalf("ended on b %v, on a %v", b.local.ended, a.local.ended)
	}
}

// TestClusterSessionsMissingInstance (real redis-server): an instance
// registered but not answering is reported missing within the fan-out
// bound, with the others' sessions; with Redis stopped the list is this
// instance's, partial, within the bound; an end on another instance is
// unavailable, not hung.
func TestClusterSessionsMissingInstance(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.Addr(), "a", "acme")
	mute := newRuntime(t, srv.Addr(), "m").NewRegistry(info(1)) // registered, never answers
	mute.Start()
	defer mute.Stop(context.Background())
	b := startNode(t, srv.Addr(), "b", "acme")
	_ = b
	eventually(t, 30*time.Second, "b answers", func() bool {
		page, _, _, _ := a.sess.ListCluster(context.Background(), sessions.Query{Limit: 10})
		return len(page) == 2
	})
	start := time.Now()
	page, _, cov, err := a.sess.ListCluster(context.Background(), sessions.Query{Limit: 10})
	if err != nil || !cov.Partial || !slices.Equal(cov.Missing, []string{"m"}) || !slices.Equal(listIDs(page), []string{"a.1", "b.1"}) {
		t.Fatalf("list = %v cov %+v err %v", listIDs(page), cov, err)
	}
	if d := time.Since(start); d > 2*time.Second+5*time.Second {
		t.Fatalf("list took %v, bound 2s", d)
	}
	if err := a.sess.End(context.Background(), "", "m.1", ""); !errors.Is(err, sessions.ErrUnavailable) {
		t.Fatalf("end on the mute instance: %v", err)
	}
	srv.Stop()
	page, _, cov, err = a.sess.ListCluster(context.Background(), sessions.Query{Limit: 10})
	if err != nil || !cov.Partial || !slices.Equal(listIDs(page), []string{"a.1"}) {
		t.Fatalf("redis stopped: list = %v cov %+v err %v", listIDs(page), cov, err)
	}
	if err := a.sess.End(context.Background(), "", "b.1", ""); !errors.Is(err, sessions.ErrUnavailable) {
		t.Fatalf("redis stopped: end on b: %v", err)
	}
}

// TestSplitID: cluster ids split at the last dot into a valid instance
// id and a decimal; anything else is refused.
func TestSplitID(t *testing.T) {
	for _, tc := range []struct {
		id, inst, local string
		ok              bool
	}{
		{"a.1", "a", "1", true},
		{"host-1_x.42", "host-1_x", "42", true},
		{"a.b.1", "", "", false}, // instance ids have no dot
		{"a.", "", "", false},
		{".1", "", "", false},
		{"a.1x", "", "", false},
		{"a:b.1", "", "", false},
		{"1", "", "", false},
	} {
		inst, local, ok := splitID(tc.id)
		if inst != tc.inst || local != tc.local || ok != tc.ok {
			t.Errorf("splitID(%q) = %q, %q, %v", tc.id, inst, local, ok)
		}
	}
}
