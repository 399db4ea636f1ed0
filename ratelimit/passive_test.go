package ratelimit

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
)

// freePassiveRange returns the first of n consecutive loopback ports that
// were free a moment ago, below Linux's ephemeral range (32768 and up) so
// that no client socket takes one before the server does.
func freePassiveRange(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		start := 20000 + rand.IntN(12000-n)
		ok := true
		for p := start; p < start+n && ok; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				continue
			}
			_ = ln.Close()
		}
		if ok {
			return start
		}
	}
	t.Fatal("no free port range")
	return 0
}

// tenantsOf is an IdentityFunc over a fixed user → tenant map.
func tenantsOf(m map[string]string) IdentityFunc {
	return func(cc engine.ClientContext) (string, string) { return m[cc.User()], cc.User() }
}

// passiveServer serves users alice, carol, dave (tenant acme) and bob
// (tenant globex) with a passive range of n ports and the limits of cfg.
func passiveServer(t *testing.T, n int, cfg Config) *testServer {
	t.Helper()
	start := freePassiveRange(t, n)
	return newTestServerWith(t, cfg, func(l *Limiter) {
		l.Identity = tenantsOf(map[string]string{"alice": "acme", "carol": "acme", "dave": "acme", "bob": "globex"})
	}, func(srv *engine.Server) {
		d := srv.Driver.(*passwordDriver)
		d.users["carol"], d.users["dave"] = "secret", "secret"
		d.settings.PassiveTransferPortRange = &engine.PortRange{Start: start, End: start + n - 1}
	})
}

// grabPassive logs user in from ip in new sessions and sends EPSV in each
// until one is refused, at most max times; it returns the ports taken
// and the refusal's text ("" when none came).
func grabPassive(t *testing.T, ts *testServer, ip, user string, max int) (int, string) {
	t.Helper()
	for i := range max {
		c, code, text := ts.dialRaw(t, ip)
		if code != 220 {
			t.Fatalf("banner: %d %s", code, text)
		}
		c.Expect("USER "+user, 331)
		c.Expect("PASS secret", 230)
		switch code, text := c.Cmd("EPSV"); code {
		case 229:
		case 425:
			return i, text
		default:
			t.Fatalf("EPSV: %d %s", code, text)
		}
	}
	return max, ""
}

// TestPassivePortsOneAccountCannotTakeThemAll: one user repeating EPSV
// over many sessions is refused with a clear 425 at its share, so are
// other users of its tenant and its address at theirs, and a user of
// another tenant still gets a port and transfers. The limits are the
// defaults: for 8 ports, 2 per user, 4 per address, 4 per tenant.
func TestPassivePortsOneAccountCannotTakeThemAll(t *testing.T) {
	const n = 8
	ts := passiveServer(t, n, Config{})
	want := ts.writeFile(t, "report.bin", 200<<10)

	took, refusal := grabPassive(t, ts, "127.0.0.2", "alice", n+1)
	if took != 2 || !strings.Contains(refusal, "passive ports held by this user") {
		t.Fatalf("alice took %d ports, then %q; want 2, then the per-user refusal", took, refusal)
	}
	// carol, same tenant and address, takes 2 more: the address then
	// holds its 4, and is refused for it.
	took, refusal = grabPassive(t, ts, "127.0.0.2", "carol", n+1)
	if took != 2 || !strings.Contains(refusal, "from your address") {
		t.Fatalf("carol took %d ports, then %q; want 2, then the per-address refusal", took, refusal)
	}
	took, refusal = grabPassive(t, ts, "127.0.0.2", "dave", n+1)
	if took != 0 || !strings.Contains(refusal, "from your address") {
		t.Fatalf("dave from the same address took %d ports, then %q", took, refusal)
	}
	// The tenant holds 4: dave from elsewhere is refused for the tenant.
	took, refusal = grabPassive(t, ts, "127.0.0.4", "dave", n+1)
	if took != 0 || !strings.Contains(refusal, "held by this tenant") {
		t.Fatalf("dave from another address took %d ports, then %q", took, refusal)
	}

	// bob, of another tenant, transfers with a real client.
	bob := ts.ftpClient(t, "127.0.0.3", "bob")
	if err := bob.Stor("from-bob.bin", bytes.NewReader(want)); err != nil {
		t.Fatalf("bob's STOR: %v", err)
	}
	r, err := bob.Retr("report.bin")
	if err != nil {
		t.Fatalf("bob's RETR: %v", err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("bob's RETR: %d bytes, %v", len(got), err)
	}
}

// TestPassivePortsGivenBack: ports come back when their sessions end,
// after a transfer, and with REIN; the tables keep nothing once no port
// is held; the stats count what was refused.
func TestPassivePortsGivenBack(t *testing.T) {
	ts := passiveServer(t, 8, Config{PassivePerUser: 1, PassivePerIP: -1, PassivePerTenant: -1})
	want := ts.writeFile(t, "f.bin", 64<<10)
	l := ts.l

	c, _, _ := ts.dialRaw(t, "127.0.0.2")
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	c.Expect("EPSV", 229)
	c.Expect("EPSV", 229) // replaces the first: still one held
	if got := l.PassiveStats().Held; got != 1 {
		t.Fatalf("held %d after two EPSV in one session", got)
	}
	other, _, _ := ts.dialRaw(t, "127.0.0.2")
	other.Expect("USER alice", 331)
	other.Expect("PASS secret", 230)
	other.Expect("PASV", 425)
	c.Expect("REIN", 220)
	eventually(t, "REIN gives the port back", func() bool { return l.PassiveStats().Held == 0 })
	other.Expect("PASV", 227)
	other.Expect("QUIT", 221)
	eventually(t, "QUIT gives the port back", func() bool { return l.PassiveStats().Held == 0 })

	// A real client's transfers: each port is given back when its data
	// connection arrives, so a cap of 1 never gets in the way.
	alice := ts.ftpClient(t, "127.0.0.2", "alice")
	for range 3 {
		r, err := alice.Retr("f.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		_ = r.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("RETR: %d bytes", len(got))
		}
	}
	_ = alice.Quit()
	eventually(t, "every port given back", func() bool { return l.PassiveStats().Held == 0 })
	eventually(t, "empty tables", func() bool {
		p := &l.passive
		return p.ips.len() == 0 && p.users.len() == 0 && p.tenants.len() == 0
	})
	if s := l.PassiveStats(); s.RefusedPerUser != 1 || s.RefusedPerIP != 0 || s.RefusedPerTenant != 0 {
		t.Fatalf("stats %+v, want one per-user refusal", s)
	}
}

func TestPassiveCapsDefaults(t *testing.T) {
	c, err := compile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ pool, ip, user, tenant int }{
		{0, 1, 1, 1},
		{1, 1, 1, 1},
		{8, 4, 2, 4},
		{10, 5, 2, 5},
		{100, 32, 16, 50},
		{14117, 32, 16, 1024},
	} {
		ip, user, tenant := c.passiveCaps(tc.pool)
		if ip != tc.ip || user != tc.user || tenant != tc.tenant {
			t.Errorf("pool %d: caps %d/%d/%d, want %d/%d/%d", tc.pool, ip, user, tenant, tc.ip, tc.user, tc.tenant)
		}
	}
	c, _ = compile(Config{PassivePerIP: 3, PassivePerUser: -1, PassivePerTenant: 7})
	if ip, user, tenant := c.passiveCaps(100); ip != 3 || user != 0 || tenant != 7 {
		t.Errorf("set caps: %d/%d/%d", ip, user, tenant)
	}
}
