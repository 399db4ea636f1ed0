package tenancy

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
)

// carolTOML adds carol (list and download everywhere, every right and
// links in /pub, nothing in /private) and dave (every right including
// chown and symlink, home "/") to acme.
func carolTOML(t testing.TB) string {
	return fmt.Sprintf(`
[[users]]
name = "carol"
password = %q
  [[users.permissions]]
  prefix = "/"
  allow = ["list", "download"]
  [[users.permissions]]
  prefix = "/pub"
  allow = ["all", "symlink", "chown"]
  [[users.permissions]]
  prefix = "/private"
  allow = []
[[users]]
name = "dave"
password = %q
  [[users.permissions]]
  prefix = "/"
  allow = ["all", "chown", "symlink"]
`, testHash(t, "carol-pw"), testHash(t, "dave-pw"))
}

// symlinkFixture serves acme with carol and dave, HASH and COMB on, and
// a tree: alice's files, a private file, carol's own file in /pub, and
// links planted in /pub into /private (which carol could not make).
func symlinkFixture(t *testing.T, storage string) *fixture {
	t.Helper()
	acme := strings.Replace(acmeTOML(t, carolTOML(t)), "dir = \"../data/acme\"\n", "dir = \"../data/acme\"\n"+storage, 1)
	f := newFixtureWith(t, map[string]string{
		"server.toml":                serverTOML(""),
		"tenants/acme.toml":          acme,
		"data/acme/alice/a.txt":      "alice data",
		"data/acme/alice/sub/b.txt":  "alice b",
		"data/acme/private/s.txt":    "private secret",
		"data/acme/pub/mine.txt":     "carol's",
		"data/acme/pub/p1.txt":       "part one",
		"data/acme/archive/keep.txt": "kept",
	}, func(st *engine.Settings) {
		st.EnableHASH = true
		st.EnableCOMB = true
	})
	for name, target := range map[string]string{
		"pub/priv":  "../private",
		"pub/sec":   "../private/s.txt",
		"pub/loop1": "loop2",
		"pub/loop2": "loop1",
	} {
		if err := os.Symlink(target, filepath.Join(f.dir, "data/acme", name)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// dataCmd runs a command that uses a data connection over EPSV and
// returns its final reply code (the first one when it is not 150/125).
func (c *raw) dataCmd(line string) (int, string) {
	c.t.Helper()
	code, msg := c.cmd("EPSV")
	if code != 229 {
		c.t.Fatalf("EPSV: %d %s", code, msg)
	}
	i := strings.Index(msg, "(|||")
	j := strings.Index(msg, "|)")
	if i < 0 || j < i {
		c.t.Fatalf("EPSV reply %q", msg)
	}
	host, _, _ := net.SplitHostPort(c.NetConn().RemoteAddr().String())
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, msg[i+4:j]), 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	defer dc.Close()
	code, msg = c.cmd("%s", line)
	if code != 150 && code != 125 {
		return code, msg
	}
	_ = dc.SetDeadline(time.Now().Add(10 * time.Second))
	switch verb, _, _ := strings.Cut(line, " "); verb {
	case "STOR", "APPE", "STOU":
		_, _ = dc.Write([]byte("uploaded"))
		_ = dc.Close() // the end of the upload
	default:
		_, _ = io.Copy(io.Discard, dc)
	}
	return c.read()
}

// login logs a raw client in.
func (c *raw) login(user, pass string) {
	c.t.Helper()
	if code, msg := c.cmd("USER %s", user); code != 331 {
		c.t.Fatalf("USER: %d %s", code, msg)
	}
	if code, msg := c.cmd("PASS %s", pass); code != 230 {
		c.t.Fatalf("PASS: %d %s", code, msg)
	}
}

// TestSymlinksCannotStepAroundRights: carol, who may write only in /pub,
// makes links in /pub to the tenant's root and to alice's directory, and
// tries every verb through them; each is judged on the path it reaches,
// so writes into alice's tree and reads of /private (where a link was
// planted for her) are refused, and nothing on disk changes. Links that
// stay where carol has rights keep working.
func TestSymlinksCannotStepAroundRights(t *testing.T) {
	t.Parallel()
	f := symlinkFixture(t, "")
	acme := filepath.Join(f.dir, "data/acme")
	c := f.mustLogin("carol@acme", "carol-pw")

	// The links of the report: carol has list at / and at /alice.
	if err := c.Stor("/alice/direct.txt", strings.NewReader("x")); replyCode(err) != 550 {
		t.Fatalf("direct STOR /alice/direct.txt: %v, want 550", err)
	}
	r := f.dialRaw()
	r.login("carol@acme", "carol-pw")
	for _, l := range [][2]string{{"/", "/pub/root"}, {"/alice", "/pub/al"}} {
		if code, msg := r.cmd("SITE SYMLINK %s %s", l[0], l[1]); code != 200 {
			t.Fatalf("SITE SYMLINK %s %s: %d %s", l[0], l[1], code, msg)
		}
	}
	uid, gid := os.Getuid(), os.Getgid()
	refused := []string{
		// Writing verbs into alice's tree, through the link to the root
		// and through the link to her directory.
		"DELE /pub/al/a.txt",
		"DELE /pub/root/alice/a.txt",
		"MKD /pub/root/newdir",
		"MKD /pub/al/newdir",
		"RMD /pub/al/sub",
		"XRMD /pub/root/alice/sub",
		"SITE CHMOD 777 /pub/al",
		"SITE CHMOD 700 /pub/root/alice/sub",
		"SITE CHMOD 600 /pub/al/a.txt",
		fmt.Sprintf("SITE CHOWN %d:%d /pub/al/a.txt", uid, gid),
		"SITE SYMLINK /pub/mine.txt /pub/al/planted-link",
		"SITE MKDIR /pub/root/alice/n1/n2",
		"SITE RMDIR /pub/al/sub",
		"MFMT 20200101000000 /pub/al/a.txt",
		"MDTM 20200101000000 /pub/root/alice/a.txt",
		`COMB "/pub/al/c.txt" "/pub/p1.txt"`,
		// Reading verbs into /private through links planted there.
		"SIZE /pub/sec",
		"MDTM /pub/sec",
		"MLST /pub/sec",
		"MLST /pub/priv/s.txt",
		"CWD /pub/priv",
		"STAT /pub/priv",
		"STAT /pub/sec",
		"HASH /pub/sec",
		`COMB "/pub/t.txt" "/pub/sec"`,
		`COMB "/pub/t.txt" "/pub/priv/s.txt"`,
		// A link to where carol has no rights.
		"SITE SYMLINK /private /pub/p2",
		"SITE SYMLINK /private/s.txt /pub/p3",
	}
	for _, line := range refused {
		if code, msg := r.cmd("%s", line); code != 550 && code != 553 {
			t.Errorf("%s: %d %s, want 550", line, code, msg)
		}
	}
	// RNFR/RNTO: the source in alice's tree, then the target.
	if code, _ := r.cmd("RNFR /pub/al/a.txt"); code == 350 {
		if code, msg := r.cmd("RNTO /pub/stolen.txt"); code != 550 {
			t.Errorf("RNTO of alice's file out through /pub/al: %d %s, want 550", code, msg)
		}
	}
	if code, msg := r.cmd("RNFR /pub/mine.txt"); code != 350 {
		t.Fatalf("RNFR /pub/mine.txt: %d %s", code, msg)
	}
	if code, msg := r.cmd("RNTO /pub/root/alice/mine.txt"); code != 550 {
		t.Errorf("RNTO into alice's tree through /pub/root: %d %s, want 550", code, msg)
	}
	// Transfers and listings.
	for _, line := range []string{
		"STOR /pub/root/alice/x",
		"STOR /pub/al/x",
		"APPE /pub/al/a.txt",
		"STOR /pub/al/a.txt",
		"RETR /pub/sec",
		"RETR /pub/priv/s.txt",
		"LIST /pub/priv",
		"NLST /pub/priv",
		"MLSD /pub/priv",
	} {
		if code, msg := r.dataCmd(line); code != 550 {
			t.Errorf("%s: %d %s, want 550", line, code, msg)
		}
	}
	if code, msg := r.cmd("CWD /pub/al"); code != 250 {
		t.Fatalf("CWD /pub/al (carol may list alice's directory): %d %s", code, msg)
	}
	if code, msg := r.dataCmd("STOU"); code != 550 {
		t.Errorf("STOU in /pub/al: %d %s, want 550", code, msg)
	}
	if code, msg := r.cmd("CWD /"); code != 250 {
		t.Fatalf("CWD /: %d %s", code, msg)
	}

	// Nothing changed in alice's tree or in /private.
	entries, _ := os.ReadDir(filepath.Join(acme, "alice"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "a.txt,sub" {
		t.Errorf("alice's directory now holds %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(acme, "alice/a.txt")); string(b) != "alice data" {
		t.Errorf("alice's a.txt: %q", b)
	}
	if fi, err := os.Stat(filepath.Join(acme, "alice")); err != nil || fi.Mode().Perm() == 0o777 {
		t.Errorf("alice's directory mode: %v %v", fi, err)
	}
	for _, p := range []string{"newdir", "pub/stolen.txt", "pub/t.txt", "pub/p2", "pub/p3"} {
		if _, err := os.Lstat(filepath.Join(acme, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(acme, "pub/mine.txt")); string(b) != "carol's" {
		t.Errorf("carol's own file after the refused rename: %q", b)
	}

	// Links that stay where carol has rights work for her.
	if code, msg := r.cmd("SITE SYMLINK /pub/mine.txt /pub/ml"); code != 200 {
		t.Fatalf("SITE SYMLINK inside /pub: %d %s", code, msg)
	}
	if rd, err := c.Retr("/pub/ml"); err != nil {
		t.Errorf("RETR /pub/ml: %v", err)
	} else {
		b, _ := io.ReadAll(rd)
		rd.Close()
		if string(b) != "carol's" {
			t.Errorf("RETR /pub/ml: %q", b)
		}
	}
	if err := c.Stor("/pub/root/pub/new.txt", strings.NewReader("new")); err != nil {
		t.Errorf("STOR /pub/root/pub/new.txt (reaches /pub/new.txt): %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(acme, "pub/new.txt")); string(b) != "new" {
		t.Errorf("pub/new.txt: %q", b)
	}
	// Reading through the root link where carol may read is fine too.
	if rd, err := c.Retr("/pub/root/alice/a.txt"); err != nil {
		t.Errorf("RETR /pub/root/alice/a.txt (carol may download there): %v", err)
	} else {
		_, _ = io.Copy(io.Discard, rd)
		rd.Close()
	}
	// DELE of a link removes the link, not what it leads to.
	if err := c.Delete("/pub/al"); err != nil {
		t.Errorf("DELE /pub/al (the link itself, in /pub): %v", err)
	}
	if fi, err := os.Stat(filepath.Join(acme, "alice")); err != nil || !fi.IsDir() {
		t.Errorf("alice's directory after DELE of the link: %v", err)
	}
	// A loop of links is an error, not a hang.
	if code, msg := r.cmd("SIZE /pub/loop1"); code != 550 || !strings.Contains(msg, "symbolic links") {
		t.Errorf("SIZE through a loop of links: %d %s", code, msg)
	}
}

// TestSymlinkAndChownNeedTheirOwnRight: "all", or no rules at all, grants
// neither symlink nor chown; a rule naming them does.
func TestSymlinkAndChownNeedTheirOwnRight(t *testing.T) {
	t.Parallel()
	f := symlinkFixture(t, "")
	a := f.dialRaw()
	a.login("alice@acme", "acme-alice") // no rules: "all"
	if code, msg := a.dataCmd("STOR a2.txt"); code != 226 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	if code, msg := a.cmd("SITE SYMLINK a2.txt l"); code != 550 || !strings.Contains(msg, "symlink") {
		t.Errorf("SITE SYMLINK without the symlink right: %d %s, want 550", code, msg)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if code, msg := a.cmd("SITE CHOWN %d:%d a2.txt", uid, gid); code != 550 || !strings.Contains(msg, "chown") {
		t.Errorf("SITE CHOWN without the chown right: %d %s, want 550", code, msg)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "data/acme/alice/l")); !os.IsNotExist(err) {
		t.Errorf("the link was made: %v", err)
	}
	d := f.dialRaw()
	d.login("dave@acme", "dave-pw")
	if code, msg := d.cmd("SITE SYMLINK /alice/a2.txt /l"); code != 200 {
		t.Errorf("SITE SYMLINK with the right: %d %s", code, msg)
	}
	if code, msg := d.cmd("SITE CHOWN %d:%d /alice/a2.txt", uid, gid); code != 200 {
		t.Errorf("SITE CHOWN to the server's own ids with the right: %d %s", code, msg)
	}
}

// TestSiteModesAreBounded: setuid, setgid and sticky are refused; the
// mode and owner of the user's root (the tenant's root for dave, the home
// for alice) are fixed, also through a link; directories keep the owner's
// rwx and files the owner's rw. The modes on disk are what the replies
// say.
func TestSiteModesAreBounded(t *testing.T) {
	t.Parallel()
	f := symlinkFixture(t, "")
	acme := filepath.Join(f.dir, "data/acme")
	d := f.dialRaw()
	d.login("dave@acme", "dave-pw")
	modeOf := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(acme, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	rootMode := modeOf(".")
	if code, msg := d.cmd("MKD /private2"); code != 257 {
		t.Fatalf("MKD: %d %s", code, msg)
	}
	if code, msg := d.dataCmd("STOR /tool"); code != 226 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	if code, msg := d.cmd("SITE SYMLINK / /rootlink"); code != 200 {
		t.Fatalf("SITE SYMLINK: %d %s", code, msg)
	}
	uid, gid := os.Getuid(), os.Getgid()
	for _, tc := range []struct {
		line string
		code int
	}{
		{"SITE CHMOD 4755 /tool", 504},
		{"SITE CHMOD 2755 /tool", 504},
		{"SITE CHMOD 1777 /private2", 504},
		{"SITE CHMOD 4777 /", 504},
		{"SITE CHMOD 777 /", 550},
		{"SITE CHMOD 755 /", 550},
		{"SITE CHMOD 777 /rootlink", 550},
		{fmt.Sprintf("SITE CHOWN %d:%d /", uid, gid), 550},
		{fmt.Sprintf("SITE CHOWN %d:%d /rootlink", uid, gid), 550},
		{"SITE CHMOD 000 /private2", 550},
		{"SITE CHMOD 077 /private2", 550},
		{"SITE CHMOD 600 /private2", 550},
		{"SITE CHMOD 000 /tool", 550},
		{"SITE CHMOD 444 /tool", 550},
		{"SITE CHMOD 200 /tool", 550},
		{"SITE CHMOD 700 /private2", 200},
		{"SITE CHMOD 0751 /private2", 200},
		{"SITE CHMOD 640 /tool", 200},
		{"SITE CHMOD 0755 /tool", 200},
	} {
		if code, msg := d.cmd("%s", tc.line); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.line, code, msg, tc.code)
		}
	}
	if m := modeOf("."); m != rootMode {
		t.Errorf("tenant root mode %v, was %v", m, rootMode)
	}
	if m := modeOf("private2"); m.Perm() != 0o751 || m&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		t.Errorf("private2 mode %v, want 0751", m)
	}
	if m := modeOf("tool"); m.Perm() != 0o755 || m&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		t.Errorf("tool mode %v, want 0755", m)
	}

	a := f.dialRaw()
	a.login("alice@acme", "acme-alice")
	homeMode := modeOf("alice")
	if code, msg := a.cmd("SITE CHMOD 777 /"); code != 550 {
		t.Errorf("SITE CHMOD of alice's home root: %d %s, want 550", code, msg)
	}
	if code, msg := a.cmd("SITE CHMOD 000 ."); code != 550 {
		t.Errorf("SITE CHMOD 000 of alice's home root: %d %s, want 550", code, msg)
	}
	if m := modeOf("alice"); m != homeMode {
		t.Errorf("alice's home mode %v, was %v", m, homeMode)
	}
}

// TestPathCaps: what a user creates is capped in depth and length on its
// tenant-absolute path (home included), for every verb that creates, with
// a 553; a tenant file may set the caps.
func TestPathCaps(t *testing.T) {
	t.Parallel()
	f := symlinkFixture(t, "max_path_depth = 4\nmax_path_length = 40\n")
	acme := filepath.Join(f.dir, "data/acme")
	d := f.dialRaw()
	d.login("dave@acme", "dave-pw")
	for _, p := range []string{"/a", "/a/b", "/a/b/c", "/a/b/c/d"} {
		if code, msg := d.cmd("MKD %s", p); code != 257 {
			t.Fatalf("MKD %s: %d %s", p, code, msg)
		}
	}
	if code, msg := d.dataCmd("STOR /a/b/c/f"); code != 226 {
		t.Fatalf("STOR at depth 4: %d %s", code, msg)
	}
	for _, line := range []string{
		"MKD /a/b/c/d/e",
		"XMKD /a/b/c/d/e",
		"SITE MKDIR /x/y/z/w/v",
		"SITE SYMLINK /a /a/b/c/d/l",
		"MKD /" + strings.Repeat("n", 40),
		"SITE MKDIR /a/" + strings.Repeat("m", 38),
	} {
		if code, msg := d.cmd("%s", line); code != 553 {
			t.Errorf("%s: %d %s, want 553", line, code, msg)
		}
	}
	for _, line := range []string{"STOR /a/b/c/d/f", "APPE /a/b/c/d/g", "STOR /" + strings.Repeat("s", 40)} {
		if code, msg := d.dataCmd(line); code != 553 {
			t.Errorf("%s: %d %s, want 553", line, code, msg)
		}
	}
	if code, msg := d.cmd("RNFR /a/b/c/f"); code != 350 {
		t.Fatalf("RNFR: %d %s", code, msg)
	}
	if code, msg := d.cmd("RNTO /a/b/c/d/f"); code != 553 {
		t.Errorf("RNTO one level too deep: %d %s, want 553", code, msg)
	}
	// A directory moved deeper takes its tree along: the tree must fit.
	for _, line := range []string{"MKD /m", "MKD /m/n", "MKD /m/n/o", "MKD /q", "MKD /r", "MKD /r/s"} {
		if code, msg := d.cmd("%s", line); code != 257 {
			t.Fatalf("%s: %d %s", line, code, msg)
		}
	}
	if code, msg := d.cmd("RNFR /m"); code != 350 {
		t.Fatalf("RNFR /m: %d %s", code, msg)
	}
	if code, msg := d.cmd("RNTO /q/m"); code != 250 {
		t.Errorf("RNTO /q/m (its tree reaches depth 4): %d %s, want 250", code, msg)
	}
	if code, msg := d.cmd("RNFR /q/m"); code != 350 {
		t.Fatalf("RNFR /q/m: %d %s", code, msg)
	}
	if code, msg := d.cmd("RNTO /r/s/m"); code != 553 {
		t.Errorf("RNTO /r/s/m (its tree would reach depth 5): %d %s, want 553", code, msg)
	}
	if _, err := os.Stat(filepath.Join(acme, "q/m/n/o")); err != nil {
		t.Errorf("the refused move moved: %v", err)
	}
	// The home counts: /alice/p/q/r is at the cap.
	a := f.dialRaw()
	a.login("alice@acme", "acme-alice")
	if code, msg := a.cmd("SITE MKDIR /p/q/r"); code != 200 {
		t.Fatalf("SITE MKDIR /p/q/r for alice: %d %s", code, msg)
	}
	if code, msg := a.cmd("MKD /p/q/r/s"); code != 553 {
		t.Errorf("MKD /p/q/r/s for alice (/alice/p/q/r/s): %d %s, want 553", code, msg)
	}
	for _, p := range []string{"a/b/c/d/e", "x", "a/b/c/d/l", "a/b/c/d/f", "a/b/c/d/g", "alice/p/q/r/s"} {
		if _, err := os.Lstat(filepath.Join(acme, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", p, err)
		}
	}
}

// TestPathCapDefaults: without settings, 64 levels and 1024 bytes.
func TestPathCapDefaults(t *testing.T) {
	t.Parallel()
	f := symlinkFixture(t, "")
	d := f.dialRaw()
	d.login("dave@acme", "dave-pw")
	p := ""
	for i := range DefaultMaxPathDepth {
		p += "/" + strconv.Itoa(i%10)
		if code, msg := d.cmd("MKD %s", p); code != 257 {
			t.Fatalf("MKD at depth %d: %d %s", i+1, code, msg)
		}
	}
	if code, msg := d.cmd("MKD %s/x", p); code != 553 {
		t.Errorf("MKD at depth %d: %d %s, want 553", DefaultMaxPathDepth+1, code, msg)
	}
	if code, msg := d.cmd("SITE MKDIR /deep%s", strings.Repeat("/d", 4000)); code != 553 {
		t.Errorf("SITE MKDIR of 4001 levels: %d %s, want 553", code, msg)
	}
	long := strings.Repeat("/"+strings.Repeat("l", 200), 6)
	if code, msg := d.cmd("SITE MKDIR %s", long); code != 553 {
		t.Errorf("SITE MKDIR of %d bytes: %d %s, want 553", len(long), code, msg)
	}
}

// TestPathCapConfig: the caps are checked when the tenant file loads.
func TestPathCapConfig(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"max_path_depth = -1\n", "max_path_depth = 100000\n", "max_path_length = -5\n", "max_path_length = 70000\n"} {
		dir := t.TempDir()
		acme := strings.Replace(acmeTOML(t, ""), "dir = \"../data/acme\"\n", "dir = \"../data/acme\"\n"+bad, 1)
		for name, content := range map[string]string{"server.toml": serverTOML(""), "tenants/acme.toml": acme} {
			p := filepath.Join(dir, name)
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := LoadConfig(filepath.Join(dir, "server.toml"))
		if err == nil || !strings.Contains(err.Error(), "storage.max_path_") {
			t.Errorf("%q: %v, want an error naming the key", bad, err)
		}
	}
}

// sessionOf returns the driver's session for tenant/user, or the first
// one not logged in when user is "".
func sessionOf(t *testing.T, d *Driver, user string) *session {
	t.Helper()
	var found *session
	// The engine marks the login after AuthUser returns: poll.
	waitFor(t, "a session of "+user, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, s := range d.sessions {
			_, u, ok := s.info()
			if (user == "" && !ok) || (ok && u == user && s.cc.LoggedIn()) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// TestTenantPath: the path an operation reaches inside the tenant, with
// the home in front and links resolved as the session resolves them; an
// error before login.
func TestTenantPath(t *testing.T) {
	t.Parallel()
	f := symlinkFixture(t, "")
	r := f.dialRaw()
	before := sessionOf(t, f.driver, "")
	if p, err := f.driver.TenantPath(before.cc, "/x"); err == nil {
		t.Errorf("TenantPath before login: %q", p)
	}
	r.login("carol@acme", "carol-pw")
	if code, msg := r.cmd("SITE SYMLINK / /pub/root"); code != 200 {
		t.Fatalf("SITE SYMLINK: %d %s", code, msg)
	}
	if code, msg := r.cmd("SITE SYMLINK /alice/a.txt /pub/fl"); code != 200 {
		t.Fatalf("SITE SYMLINK: %d %s", code, msg)
	}
	if code, msg := r.cmd("CWD /pub"); code != 250 {
		t.Fatalf("CWD: %d %s", code, msg)
	}
	carol := sessionOf(t, f.driver, "carol")
	for name, want := range map[string]string{
		"/pub/root/archive/record.txt": "/archive/record.txt",
		"root/alice/a.txt":             "/alice/a.txt",
		"/pub/root":                    "/",
		"/pub/fl":                      "/alice/a.txt",
		"/pub/new/dir/x":               "/pub/new/dir/x",
		"/pub/priv/s.txt":              "/private/s.txt",
		"/pub/loop1":                   "/pub/loop1",
		"../../..":                     "/",
	} {
		if got, err := f.driver.TenantPath(carol.cc, name); err != nil || got != want {
			t.Errorf("TenantPath(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	a := f.dialRaw()
	a.login("alice@acme", "acme-alice")
	alice := sessionOf(t, f.driver, "alice")
	if code, msg := a.cmd("MKD /d"); code != 257 {
		t.Fatalf("MKD: %d %s", code, msg)
	}
	for name, want := range map[string]string{"/x/y": "/alice/x/y", "/": "/alice", "sub/b.txt": "/alice/sub/b.txt"} {
		if got, err := f.driver.TenantPath(alice.cc, name); err != nil || got != want {
			t.Errorf("alice: TenantPath(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}
