package engine

import (
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// extOSFs returns a filesystem rooted in a fresh directory, and the
// directory.
func extOSFs(t testing.TB) (afero.Fs, string) {
	dir := t.TempDir()
	return afero.NewBasePathFs(afero.NewOsFs(), dir), dir
}

// extSymlinkFs adds ClientDriverExtensionSymlink to an OS filesystem
// rooted at root: links are stored relative to their directory, so they
// stay inside the root whatever the host path is.
type extSymlinkFs struct {
	afero.Fs
	root string
}

func (fs extSymlinkFs) Symlink(oldname, newname string) error {
	rel, err := filepath.Rel(filepath.Dir(filepath.FromSlash(newname)), filepath.FromSlash(oldname))
	if err != nil {
		return err
	}
	return os.Symlink(rel, filepath.Join(fs.root, filepath.FromSlash(newname)))
}

// extSiteFs adds ClientDriverExtensionSite.
type extSiteFs struct{ afero.Fs }

func (extSiteFs) Site(cc ClientContext, command, arg string) (int, string, bool) {
	switch command {
	case "WHO":
		return 200, "You are " + cc.User() + "; arg " + arg, true
	case "BADCODE":
		return 150, "", true
	}
	return 0, "", false
}

func TestExtSITECHMODChangesTheMode(t *testing.T) {
	fs, dir := extOSFs(t)
	extWrite(t, fs, "/my file.txt", []byte("x"))
	hooks := &extHookPaths{}
	ts := newTestServer(t, withFs(fs), withExtHook(hooks))
	c := ts.login(t)

	c.expect("SITE CHMOD 600 my file.txt", 200)
	fi, err := os.Stat(filepath.Join(dir, "my file.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if got := hooks.get("SITE"); !reflect.DeepEqual(got, []string{"/my file.txt"}) {
		t.Fatalf("hook saw Paths %q", got)
	}
	c.expect(`SITE CHMOD 0755 "my file.txt"`, 200)
	fi, _ = os.Stat(filepath.Join(dir, "my file.txt"))
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", fi.Mode().Perm())
	}
	c.expect("SITE CHMOD 999 my file.txt", 501)
	c.expect("SITE CHMOD 644", 501)
	c.expect("SITE CHMOD 644 missing", 550)
	// ".." cannot leave the root: this is the root's own missing file.
	c.expect("SITE CHMOD 644 ../../../../etc/passwd", 550)
	if got := hooks.get("SITE"); !reflect.DeepEqual(got, []string{"/etc/passwd"}) {
		t.Fatalf("hook saw Paths %q", got)
	}
}

func TestExtSITECHOWNToOneself(t *testing.T) {
	fs, dir := extOSFs(t)
	extWrite(t, fs, "/f", []byte("x"))
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	uid, gid := os.Getuid(), os.Getgid()
	c.expect("SITE CHOWN "+strconv.Itoa(uid)+":"+strconv.Itoa(gid)+" f", 200)
	c.expect("SITE CHOWN "+strconv.Itoa(uid)+" f", 200)
	c.expect("SITE CHOWN :"+strconv.Itoa(gid)+" f", 200)
	if me, err := user.Current(); err == nil {
		c.expect("SITE CHOWN "+me.Username+" f", 200)
	}
	c.expect("SITE CHOWN no-such-user-ftpgate f", 550)
	c.expect("SITE CHOWN : f", 550)
	c.expect("SITE CHOWN 0 missing", 550)
	if _, err := os.Stat(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
}

func TestExtSITESYMLINK(t *testing.T) {
	fs, dir := extOSFs(t)
	extWrite(t, fs, "/d/target.txt", []byte("x"))
	hooks := &extHookPaths{}
	ts := newTestServer(t, withFs(extSymlinkFs{Fs: fs, root: dir}), withExtHook(hooks))
	c := ts.login(t)
	c.expect("CWD /d", 250)
	c.expect("SITE SYMLINK target.txt link", 200)
	if got, err := os.Readlink(filepath.Join(dir, "d", "link")); err != nil || got != "target.txt" {
		t.Fatalf("readlink: %q, %v", got, err)
	}
	if got := hooks.get("SITE"); !reflect.DeepEqual(got, []string{"/d/target.txt", "/d/link"}) {
		t.Fatalf("hook saw Paths %q", got)
	}
	// Quoted names, and a target that tries to climb out: it is resolved
	// inside the root first.
	c.expect(`SITE SYMLINK "../../../../etc/passwd" "other link"`, 200)
	got, err := os.Readlink(filepath.Join(dir, "d", "other link"))
	if err != nil || got != filepath.Join("..", "etc", "passwd") {
		t.Fatalf("readlink: %q, %v", got, err)
	}
	c.expect("SITE SYMLINK onlyone", 501)
	c.expect(`SITE SYMLINK "a b`, 501)
	c.expect("SITE SYMLINK target.txt link", 550) // exists already
}

func TestExtSITESYMLINKWithoutDriverSupport(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t)
	c.expect("SITE SYMLINK a b", 502)
}

func TestExtSITEMKDIRAndRMDIR(t *testing.T) {
	fs := afero.NewMemMapFs()
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	c.expect("SITE MKDIR a/b/c", 200)
	if fi, err := fs.Stat("/a/b/c"); err != nil || !fi.IsDir() {
		t.Fatalf("SITE MKDIR: %v", err)
	}
	c.expect("SITE MKDIR a/b/c", 200) // MkdirAll: already there is fine
	c.expect("SITE RMDIR a/b", 550)   // not empty: RMDIR is RMD, not rm -r
	c.expect("SITE RMDIR a/b/c", 250)
	extMissing(t, fs, "/a/b/c")
	c.expect("SITE RMDIR a/b/c", 550)
	c.expect("SITE MKDIR", 501)
}

func TestExtSITEIDLE(t *testing.T) {
	ts := newTestServer(t, withSettings(func(s *Settings) { s.IdleTimeout = 60 }))
	c := ts.login(t)
	extExpectText(t, c, "SITE IDLE", 200, "Idle timeout is 60 seconds.")
	c.expect("SITE IDLE 61", 501)
	c.expect("SITE IDLE 0", 501)
	c.expect("SITE IDLE x", 501)
	extExpectText(t, c, "SITE IDLE 1", 200, "Idle timeout set to 1 seconds.")
	// The shorter limit applies: the server closes the idle session.
	start := time.Now()
	if code, _ := c.read(); code != 421 {
		t.Fatalf("after SITE IDLE 1: got %d, want 421", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("idle close took %v", d)
	}
}

func TestExtSITEHELPAndUnknown(t *testing.T) {
	ts := newTestServer(t, withFs(extSiteFs{afero.NewMemMapFs()}))
	c := ts.login(t)
	text := c.expect("SITE HELP", 214)
	for _, sub := range []string{"CHMOD", "CHOWN", "SYMLINK", "MKDIR", "RMDIR", "IDLE"} {
		if !strings.Contains(text, sub) {
			t.Fatalf("SITE HELP lacks %s: %q", sub, text)
		}
	}
	extExpectText(t, c, "SITE who am i", 200, "You are test; arg am i")
	c.expect("SITE BADCODE", 550)
	c.expect("SITE NOSUCH", 504)
	c.expect("SITE", 501)
}

func TestExtSITEDisabled(t *testing.T) {
	ts := newTestServer(t, withSettings(func(s *Settings) { s.DisableSite = true }))
	c := ts.login(t)
	c.expect("SITE HELP", 502)
	c.expect("SITE CHMOD 644 f", 502)
}

func TestExtSITENeedsLogin(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	c.expect("SITE CHMOD 644 f", 530)
}
