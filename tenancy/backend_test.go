package tenancy

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/jlaffaye/ftp"
)

// memoryTenant is a tenant on the memory backend with two users in their
// own homes, one of them required to use TLS.
func memoryTenant(t testing.TB, extra string) string {
	return fmt.Sprintf(`
id = "mem"
[storage]
backend = "memory"
%s
[[users]]
name = "ann"
password = %q
home = "/ann"
[[users]]
name = "tom"
password = %q
home = "/tom"
tls_required = true
`, extra, testHash(t, "ann-pw"), testHash(t, "tom-pw"))
}

// TestMemoryBackendHomes: users of a memory tenant keep to their homes,
// and a reload keeps the tenant's files.
func TestMemoryBackendHomes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":      serverTOML("default = \"mem\"\n"),
		"tenants/mem.toml": memoryTenant(t, ""),
	})
	ann := f.mustLogin("ann", "ann-pw")
	if err := ann.Stor("/../../x.txt", strings.NewReader("ann's")); err != nil {
		t.Fatal(err)
	}
	if err := f.reload(); err != nil {
		t.Fatal(err)
	}
	ann2 := f.mustLogin("ann", "ann-pw")
	r, err := ann2.Retr("/x.txt")
	if err != nil {
		t.Fatalf("file lost across reload: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "ann's" {
		t.Fatalf("got %q", got)
	}
	// The file is in /ann of the tenant, not at its top.
	st := f.driver.state.Load().tenants["mem"].storage
	if _, err := st.fs.Stat("/ann/x.txt"); err != nil {
		t.Fatalf("not in ann's home: %v", err)
	}
	if _, err := st.fs.Stat("/x.txt"); err == nil {
		t.Fatal("escaped to the tenant's top")
	}
}

// TestReadOnlyStorage: every change is refused with 550.
func TestReadOnlyStorage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":      serverTOML("default = \"mem\"\n"),
		"tenants/mem.toml": memoryTenant(t, "read_only = true"),
	})
	ann := f.mustLogin("ann", "ann-pw")
	err := ann.Stor("x.txt", strings.NewReader("x"))
	if replyCode(err) != 550 || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("STOR on read-only storage: %v", err)
	}
	if err := ann.MakeDir("d"); replyCode(err) != 550 {
		t.Fatalf("MKD on read-only storage: %v", err)
	}
	if _, err := ann.List("/"); err != nil {
		t.Fatalf("LIST on read-only storage: %v", err)
	}
}

// TestTLSRequiredUser: tom cannot log in in clear, and over TLS cannot
// transfer or list with PROT C.
func TestTLSRequiredUser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "srv", "srv.test")
	f := newFixture(t, map[string]string{
		"server.toml":      serverTOML(fmt.Sprintf("default = \"mem\"\n[tls]\ncert = %q\nkey = %q\n", dir+"/srv.pem", dir+"/srv.key")),
		"tenants/mem.toml": memoryTenant(t, ""),
	})
	if _, err := f.login("tom", "tom-pw"); replyCode(err) != 530 {
		t.Fatalf("clear login of a TLS-only user: %v, want 530", err)
	}
	c, err := ftp.Dial(f.addr, ftp.DialWithTimeout(5*time.Second), ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("tom", "tom-pw"); err != nil {
		t.Fatalf("TLS login: %v", err)
	}
	if err := c.Stor("t.txt", strings.NewReader("private")); err != nil {
		t.Fatalf("STOR with PROT P: %v", err)
	}

	// Over a raw session: AUTH TLS, login, PROT C, then RETR is refused.
	rc := f.dialRaw()
	rc.cmd("AUTH TLS")
	rc.startTLS(&tls.Config{InsecureSkipVerify: true})
	rc.cmd("USER tom")
	if code, msg := rc.cmd("PASS tom-pw"); code != 230 {
		t.Fatalf("PASS: %d %s", code, msg)
	}
	rc.cmd("PBSZ 0")
	rc.cmd("PROT C")
	code, msg := rc.cmd("EPSV")
	if code != 229 {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	var port int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||")+4:], "%d", &port); err != nil {
		t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	dc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err == nil {
		defer dc.Close()
	}
	if code, msg := rc.cmd("RETR t.txt"); code != 521 {
		t.Fatalf("RETR over a clear data connection: %d %s, want 521", code, msg)
	}
	// Listings too: a directory's names travel on the data connection.
	if code, msg := rc.cmd("EPSV"); code != 229 {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	if code, msg := rc.cmd("LIST"); code != 521 {
		t.Fatalf("LIST over a clear data connection: %d %s, want 521", code, msg)
	}
}

// TestCredentialCache: a verified password is remembered, a different one
// is not, and entries expire.
func TestCredentialCache(t *testing.T) {
	t.Parallel()
	c := newCredCache(2, time.Minute)
	now := time.Now()
	a := c.id("acme", "alice", "h", "pw")
	if c.has(a, now) {
		t.Fatal("empty cache has an entry")
	}
	c.add(a, now)
	if !c.has(a, now) {
		t.Fatal("added entry missing")
	}
	if c.has(c.id("acme", "alice", "h", "pw2"), now) || c.has(c.id("acme", "alicep", "h", "w"), now) {
		t.Fatal("other credentials hit the cache")
	}
	if c.has(a, now.Add(2*time.Minute)) {
		t.Fatal("expired entry still valid")
	}
	for i := range 5 {
		c.add(c.id("t", fmt.Sprint(i), "h", "p"), now)
	}
	if len(c.entries) > 2 {
		t.Fatalf("cache holds %d entries, bound 2", len(c.entries))
	}
}

// BenchmarkLoginCached measures a repeated login with a hashed password
// (the default argon2id cost) once the credential cache has it.
func BenchmarkLoginCached(b *testing.B) {
	h, err := HashPasswordArgon2id("pw", DefaultArgon2Params())
	if err != nil {
		b.Fatal(err)
	}
	cfg := &Config{Server: ServerConfig{DefaultTenant: "m"}, Tenants: []*TenantConfig{{
		ID: "m", Storage: StorageConfig{Backend: BackendMemory},
		Users: []*UserConfig{{Name: "u", PasswordHash: h, Home: "/"}},
	}}}
	d, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	cc := &fakeContext{id: 1}
	if _, err := d.AuthUser(cc, "u", "pw"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		cc := &fakeContext{id: uint32(i + 2)}
		if _, err := d.AuthUser(cc, "u", "pw"); err != nil {
			b.Fatal(err)
		}
		d.ClientDisconnected(cc)
	}
}

// fakeContext is the least ClientContext AuthUser needs.
type fakeContext struct {
	engine.ClientContext
	id    uint32
	extra any
}

func (f *fakeContext) ID() uint32             { return f.id }
func (f *fakeContext) RemoteAddr() net.Addr   { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeContext) HostName() string       { return "" }
func (f *fakeContext) TLSServerName() string  { return "" }
func (f *fakeContext) HasTLSForControl() bool { return false }
func (f *fakeContext) SetExtra(e any)         { f.extra = e }
func (f *fakeContext) Extra() any             { return f.extra }
