package gateway

import (
	"strconv"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestAdminSessionIDsTellNothingOfOtherTenants: acme's token lists its
// own sessions only, but sequential ids would still tell it how many
// connections the server took between two of them, other tenants' and
// anonymous ones included (and its policy sees the same ids). Between
// acme's two sessions globex's user connects five times: the difference
// of acme's ids must not say so, nor must acme's three sessions in a row
// get neighbouring ids.
func TestAdminSessionIDsTellNothingOfOtherTenants(t *testing.T) {
	f := newTwoTenants(t)
	g := startWith(t, f.files, Options{})
	addr, base := g.Addr().String(), g.AdminURL()
	ids := func() []uint64 {
		t.Helper()
		var out []uint64
		for _, s := range listSessions(t, base+"/v1/tenants/acme/sessions", acmeToken).Sessions {
			n, err := strconv.ParseUint(s.ID, 10, 32)
			if err != nil {
				t.Fatalf("session id %q: %v", s.ID, err)
			}
			out = append(out, n)
		}
		return out
	}
	enginetest.Login(t, addr, "127.0.0.2", "alice", "secret")
	for range 5 {
		enginetest.Login(t, addr, "127.0.0.3", "bob@globex", "secret")
	}
	enginetest.Login(t, addr, "127.0.0.2", "carol", "secret")
	two := ids()
	if len(two) != 2 {
		t.Fatalf("acme's sessions: %v, want two", two)
	}
	if d := int64(two[1]) - int64(two[0]); d == 6 || d == -6 {
		t.Fatalf("acme's session ids %v differ by 6: five sessions of other tenants came between", two)
	}
	for range 3 {
		enginetest.Login(t, addr, "127.0.0.2", "alice", "secret")
	}
	var run []uint64 // the three newest
	for _, id := range ids() {
		if id != two[0] && id != two[1] {
			run = append(run, id)
		}
	}
	if len(run) != 3 {
		t.Fatalf("acme's sessions: %v, want three besides %v", run, two)
	}
	consecutive := true
	for i := 1; i < len(run); i++ {
		consecutive = consecutive && run[i] == run[i-1]+1
	}
	if consecutive {
		t.Fatalf("acme's sessions in a row have the ids %v: a counter", run)
	}
}
