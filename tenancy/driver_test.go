package tenancy

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSameUserTwoTenants: alice of acme and alice of globex are different
// people with different files.
func TestSameUserTwoTenants(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	a := f.mustLogin("alice@acme", "acme-alice")
	if err := a.Stor("secret.txt", strings.NewReader("acme data")); err != nil {
		t.Fatalf("STOR as acme alice: %v", err)
	}
	// The file is in acme's storage, in alice's home.
	got, err := os.ReadFile(filepath.Join(f.dir, "data/acme/alice/secret.txt"))
	if err != nil || string(got) != "acme data" {
		t.Fatalf("on disk: %q, %v", got, err)
	}
	g := f.mustLogin("alice@globex", "globex-alice")
	if _, err := g.Retr("secret.txt"); replyCode(err) != 550 {
		t.Fatalf("globex alice RETR acme's file: %v, want 550", err)
	}
	entries, err := g.List("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == "secret.txt" || e.Name == "alice" {
			t.Fatalf("globex alice sees %q", e.Name)
		}
	}
	// Each alice's password works only in her tenant.
	if _, err := f.login("alice@globex", "acme-alice"); replyCode(err) != 530 {
		t.Fatalf("acme password at globex: %v, want 530", err)
	}
	// Without a tenant in the login, the default tenant (acme) applies.
	d := f.mustLogin("alice", "acme-alice")
	r, err := d.Retr("secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "acme data" {
		t.Fatalf("default tenant read %q", b)
	}
}

// TestHostCommand: HOST picks the tenant; unknown hosts get 504; a
// user@tenant naming another tenant gets the 530 every refused login gets.
func TestHostCommand(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)

	c := f.dialRaw()
	if code, msg := c.cmd("HOST ftp.unknown.test"); code != 504 {
		t.Fatalf("HOST unknown: %d %s, want 504", code, msg)
	}
	if code, msg := c.cmd("HOST ftp.globex.test"); code != 220 {
		t.Fatalf("HOST globex: %d %s, want 220", code, msg)
	}
	c.cmd("USER alice")
	if code, msg := c.cmd("PASS globex-alice"); code != 230 {
		t.Fatalf("login at globex by HOST: %d %s", code, msg)
	}

	c = f.dialRaw()
	c.cmd("HOST FTP.GLOBEX.TEST")
	c.cmd("USER alice@acme")
	if code, msg := c.cmd("PASS acme-alice"); code != 530 || msg != "Login incorrect." {
		t.Fatalf("user@acme after HOST globex: %d %s, want 530 Login incorrect.", code, msg)
	}

	c = f.dialRaw()
	c.cmd("HOST ftp.acme.test")
	c.cmd("USER alice@acme")
	if code, msg := c.cmd("PASS acme-alice"); code != 230 {
		t.Fatalf("user@acme after HOST acme: %d %s, want 230", code, msg)
	}
}

// TestLoginFailuresLookAlike: an unknown user, an unknown tenant and a
// wrong password get the same reply, and none comes before the delay.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	delay := f.driver.state.Load().cfg.Server.LoginFailureDelay
	var replies []string
	for _, up := range [][2]string{
		{"alice@acme", "wrong"},
		{"nobody@acme", "acme-alice"},
		{"alice@nowhere", "acme-alice"},
		{"nobody", "x"},
	} {
		c := f.dialRaw()
		c.cmd("USER %s", up[0])
		start := time.Now()
		code, msg := c.cmd("PASS %s", up[1])
		if el := time.Since(start); el < delay {
			t.Errorf("%s: refused after %v, before the %v delay", up[0], el, delay)
		}
		if code != 530 {
			t.Errorf("%s: %d %s, want 530", up[0], code, msg)
		}
		replies = append(replies, msg)
	}
	for _, r := range replies[1:] {
		if r != replies[0] {
			t.Fatalf("replies differ: %q", replies)
		}
	}
}

// TestPermissions: bob may read everywhere but only upload new files to
// /incoming.
func TestPermissions(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	f.writeFile("data/acme/readme.txt", "hello")
	b := f.mustLogin("bob@acme", "acme-bob")
	r, err := b.Retr("/readme.txt")
	if err != nil {
		t.Fatalf("RETR: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "hello" {
		t.Fatalf("RETR got %q", got)
	}
	err = b.Stor("/top.txt", strings.NewReader("x"))
	if replyCode(err) != 550 || !strings.Contains(err.Error(), "upload") {
		t.Fatalf("STOR at /: %v, want 550 naming the upload right", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data/acme/top.txt")); !os.IsNotExist(err) {
		t.Fatalf("refused upload left a file: %v", err)
	}
	if err := b.MakeDir("/incoming"); err != nil {
		t.Fatalf("MKD /incoming: %v", err)
	}
	if err := b.Stor("/incoming/new.txt", strings.NewReader("new")); err != nil {
		t.Fatalf("STOR in /incoming: %v", err)
	}
	if err := b.Stor("/incoming/new.txt", strings.NewReader("replaced")); replyCode(err) != 550 {
		t.Fatalf("overwrite without the right: %v, want 550", err)
	}
	if err := b.Delete("/readme.txt"); replyCode(err) != 550 {
		t.Fatalf("DELE without the right: %v, want 550", err)
	}
	if err := b.Rename("/readme.txt", "/r.txt"); replyCode(err) != 550 {
		t.Fatalf("RNFR/RNTO without the right: %v, want 550", err)
	}
	got, _ = os.ReadFile(filepath.Join(f.dir, "data/acme/incoming/new.txt"))
	if string(got) != "new" {
		t.Fatalf("file after refused overwrite: %q", got)
	}
}

// TestTraversalAndSymlinks: neither "..", nor a link planted in acme's
// tree (absolute or relative) reaches globex's files or alice's neighbours.
func TestTraversalAndSymlinks(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	f.writeFile("data/globex/secret.txt", "globex secret")
	f.writeFile("data/acme/bob-file.txt", "outside alice's home")
	home := filepath.Join(f.dir, "data/acme/alice")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":    filepath.Join(f.dir, "data/globex/secret.txt"),
		"rel":    "../../globex/secret.txt",
		"up":     "../bob-file.txt",
		"absdir": filepath.Join(f.dir, "data/globex"),
		"reldir": "../../globex",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
			t.Fatal(err)
		}
	}
	a := f.mustLogin("alice@acme", "acme-alice")
	for _, p := range []string{"abs", "rel", "up", "absdir/secret.txt", "reldir/secret.txt", "../../globex/secret.txt", "/../bob-file.txt"} {
		r, err := a.Retr(p)
		if err == nil {
			got, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("RETR %s succeeded: %q", p, got)
		} else if replyCode(err) != 550 {
			t.Errorf("RETR %s: %v, want 550", p, err)
		}
	}
	// Writing through a link must not land outside either.
	if err := a.Stor("reldir/planted.txt", strings.NewReader("x")); err == nil {
		t.Error("STOR through a link into globex succeeded")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data/globex/planted.txt")); !os.IsNotExist(err) {
		t.Errorf("a file appeared in globex: %v", err)
	}
	if err := a.ChangeDir("absdir"); err == nil {
		if pwd, _ := a.CurrentDir(); pwd != "/" {
			t.Errorf("CWD through a link into globex succeeded: %s", pwd)
		}
	}
}

// TestQuotaAtTheEdge: an upload that fills the quota exactly succeeds, the
// next byte is refused with 552 and its partial file removed; a removed
// file frees its space; usage survives a restart.
func TestQuotaAtTheEdge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, "[quota]\nbytes = 1000\nfiles = 3\n"),
	})
	a := f.mustLogin("alice@acme", "acme-alice")
	if err := a.Stor("a.bin", bytes.NewReader(make([]byte, 600))); err != nil {
		t.Fatalf("first 600 bytes: %v", err)
	}
	if err := a.Stor("b.bin", bytes.NewReader(make([]byte, 400))); err != nil {
		t.Fatalf("upload to exactly the quota: %v", err)
	}
	err := a.Stor("c.bin", bytes.NewReader([]byte{1}))
	if replyCode(err) != 552 {
		t.Fatalf("one byte past the quota: %v, want 552", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data/acme/alice/c.bin")); !os.IsNotExist(err) {
		t.Fatalf("refused upload left its file: %v", err)
	}
	if err := a.Delete("a.bin"); err != nil {
		t.Fatal(err)
	}
	if err := a.Stor("c.bin", bytes.NewReader(make([]byte, 599))); err != nil {
		t.Fatalf("after DELE freed 600 bytes: %v", err)
	}

	// A new driver over the same files counts them again.
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	waitCounts(t, d2)
	used, files := d2.state.Load().tenants["acme"].storage.usage.snapshot()
	if used != 999 || files != 3 {
		t.Fatalf("usage after restart: %d bytes, %d entries; want 999, 3 (alice's home and two files)", used, files)
	}
}

// TestQuotaFiles: the file count is enforced too (alice's home is one of
// the three entries).
func TestQuotaFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, "[quota]\nfiles = 3\n"),
	})
	a := f.mustLogin("alice@acme", "acme-alice")
	for _, n := range []string{"1", "2"} {
		if err := a.Stor(n, strings.NewReader(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Stor("3", strings.NewReader("3")); replyCode(err) != 552 {
		t.Fatalf("third file: %v, want 552", err)
	}
	if err := a.Stor("2", strings.NewReader("overwrite is not a new file")); err != nil {
		t.Fatalf("overwriting within the file quota: %v", err)
	}
}

// TestQuotaAppendCutBack: an APPE that passes the quota is refused with 552
// and the file is cut back to what it was; a REST upload that only
// overwrites needs no new space.
func TestQuotaAppendCutBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, "[quota]\nbytes = 100\n"),
	})
	a := f.mustLogin("alice@acme", "acme-alice")
	if err := a.Stor("log.txt", strings.NewReader(strings.Repeat("a", 90))); err != nil {
		t.Fatal(err)
	}
	if err := a.Append("log.txt", strings.NewReader(strings.Repeat("b", 11))); replyCode(err) != 552 {
		t.Fatalf("APPE past the quota: %v, want 552", err)
	}
	got, _ := os.ReadFile(filepath.Join(f.dir, "data/acme/alice/log.txt"))
	if string(got) != strings.Repeat("a", 90) {
		t.Fatalf("file after refused APPE: %d bytes %q", len(got), got)
	}
	if err := a.StorFrom("log.txt", strings.NewReader(strings.Repeat("c", 10)), 80); err != nil {
		t.Fatalf("REST 80 + STOR of 10 bytes within the file: %v", err)
	}
	if err := a.Append("log.txt", strings.NewReader(strings.Repeat("d", 10))); err != nil {
		t.Fatalf("APPE up to the quota: %v", err)
	}
	got, _ = os.ReadFile(filepath.Join(f.dir, "data/acme/alice/log.txt"))
	if want := strings.Repeat("a", 80) + strings.Repeat("c", 10) + strings.Repeat("d", 10); string(got) != want {
		t.Fatalf("file %q, want %q", got, want)
	}
}
