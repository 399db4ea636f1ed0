package tenancy

import (
	"github.com/ftpgate/ftpgate/engine/conf"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyLinesNestedArrays: errors in the second user's second permission
// point at its line.
func TestKeyLinesNestedArrays(t *testing.T) {
	t.Parallel()
	doc := `id = "x"
[storage]
backend = "memory"
[[users]]
name = "a"
  [[users.permissions]]
  prefix = "/"
[[users]]
name = "b"
  [[users.permissions]]
  prefix = "/"
  [[users.permissions]]
  prefix = "/bad/../x"
  allow = ["fly"]
`
	var errs conf.Errors
	ParseTenantConfig("t.toml", []byte(doc), &errs)
	got := errs.Error()
	for _, want := range []string{
		`t.toml:13: users[1].permissions[1].prefix: "/bad/../x"`,
		`t.toml:14: users[1].permissions[1].allow: unknown right "fly"`,
		`t.toml:4: users[0].password: missing`,
		`t.toml:8: users[1].password: missing`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestTenantSetErrors: clashes between tenant files are found.
func TestTenantSetErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server.toml", "[tenants]\ndir = \"t\"\ndefault = \"zz\"\n")
	tenant := "id = \"%s\"\nhostnames = [\"same.test\"]\n[storage]\nbackend = \"os\"\ndir = \"../data\"\n"
	write("t/a.toml", strings.Replace(tenant, "%s", "a", 1))
	write("t/b.toml", strings.Replace(tenant, "%s", "a", 1))
	write("t/c.toml", "id = \"c\"\n[storage]\nbackend = \"os\"\ndir = \"../data/c\"\n")
	write("t/d.toml", "id = \"d\"\n[storage]\nbackend = \"os\"\ndir = \"..\"\n")
	_, err := LoadConfig(filepath.Join(dir, "server.toml"))
	if err == nil {
		t.Fatal("clashing tenants accepted")
	}
	for _, want := range []string{
		`b.toml:1: id: tenant id "a" is also used by`,
		`b.toml:2: hostnames: host name "same.test" is also claimed by`,
		`b.toml:5: storage.dir: directory is also used by`,
		`c.toml:4: storage.dir: directory is also used by`,
		`d.toml:4: storage.dir: directory holds the configuration files`,
		`server.toml:3: tenants.default: no tenant has id "zz"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
}

// TestSplitLogin pins the separator rule.
func TestSplitLogin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, user, tenant string
		ok               bool
	}{
		{"alice@acme", "alice", "acme", true},
		{"ann@example.com@acme", "ann@example.com", "acme", true},
		{"alice", "alice", "", false},
		{`acme\alice`, `acme\alice`, "", false},
		{"@acme", "@acme", "", false},
		{"alice@", "alice@", "", false},
	} {
		u, tn, ok := SplitLogin(c.in)
		if u != c.user || tn != c.tenant || ok != c.ok {
			t.Errorf("SplitLogin(%q) = %q %q %v", c.in, u, tn, ok)
		}
	}
}

// TestAddrAllowed: IPv4, IPv4-mapped IPv6 and IPv6 addresses against
// CIDRs.
func TestAddrAllowed(t *testing.T) {
	t.Parallel()
	var errs conf.Errors
	nets := parseCIDRs(&conf.Sink{File: "x", Lines: conf.KeyLines{}, Errs: &errs}, "k", []string{"10.0.0.0/8", "::1", "2001:db8::/32"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"11.0.0.1", false},
		{"::1", true}, {"::2", false}, {"2001:db8::5", true}, {"2001:db9::5", false},
	} {
		addr := &net.TCPAddr{IP: net.ParseIP(c.ip), Port: 21}
		if got := addrAllowed(nets, addr); got != c.want {
			t.Errorf("%s: %v, want %v", c.ip, got, c.want)
		}
	}
	if !addrAllowed(nil, &net.TCPAddr{IP: net.ParseIP("1.2.3.4")}) {
		t.Error("no CIDRs must allow every address")
	}
}

// TestCIDRsSharedGrammar: allowed_cidrs take the grammar of every prefix
// list: an IPv4-mapped prefix names its IPv4 network, and a zone or a
// mapped prefix shorter than 96 bits is an error rather than a silently
// different network.
func TestCIDRsSharedGrammar(t *testing.T) {
	t.Parallel()
	var errs conf.Errors
	sink := &conf.Sink{File: "x", Lines: conf.KeyLines{}, Errs: &errs}
	nets := parseCIDRs(sink, "k", []string{"::ffff:10.0.0.0/104"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if !addrAllowed(nets, &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 21}) {
		t.Errorf("::ffff:10.0.0.0/104 = %v does not allow 10.1.2.3", nets)
	}
	parseCIDRs(sink, "k", []string{"fe80::1%eth0", "::ffff:10.0.0.0/8"})
	if len(errs) != 2 {
		t.Errorf("want 2 errors for a zone and a short mapped prefix, got %v", errs)
	}
}
