package tenancy

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReservedNamesUnreachable: no verb reaches, makes or lists a name
// with the reserved prefix (another session's partial upload, or a file
// the start-up cleaning would remove), in any case.
func TestReservedNamesUnreachable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, linker(t)),
	})
	home := filepath.Join(f.dir, "data/acme/alice")
	f.writeFile("data/acme/alice/a.txt", "visible")
	f.writeFile("data/acme/alice/"+tempPrefix+"planted", "someone's partial upload")
	f.writeFile("data/acme/alice/.FTPGATE-dir/inside", "x")
	c := f.mustLogin("alice@acme", "acme-alice")

	entries, err := c.List("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if isReserved(e.Name) {
			t.Errorf("LIST/MLSD shows %q", e.Name)
		}
	}
	names, err := c.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(strings.ToLower(n), reservedPrefix) {
			t.Errorf("NLST shows %q", n)
		}
	}

	for _, p := range []string{tempPrefix + "planted", ".FTPGATE-dir/inside", "/sub/../" + tempPrefix + "planted"} {
		if r, err := c.Retr(p); err == nil {
			got, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("RETR %s: %q", p, got)
		} else if replyCode(err) != 553 {
			t.Errorf("RETR %s: %v, want 553", p, err)
		}
		if _, err := c.FileSize(p); replyCode(err) != 553 {
			t.Errorf("SIZE %s: %v, want 553", p, err)
		}
		if err := c.Delete(p); replyCode(err) != 553 {
			t.Errorf("DELE %s: %v, want 553", p, err)
		}
	}
	for _, p := range []string{tempPrefix + "x", ".ftpgate-x", ".Ftpgate-Upload-y", "dir/.ftpgate-z"} {
		if err := c.Stor(p, strings.NewReader("planted")); replyCode(err) != 553 {
			t.Errorf("STOR %s: %v, want 553", p, err)
		}
		if err := c.Append(p, strings.NewReader("planted")); replyCode(err) != 553 {
			t.Errorf("APPE %s: %v, want 553", p, err)
		}
		if err := c.MakeDir(p); replyCode(err) != 553 {
			t.Errorf("MKD %s: %v, want 553", p, err)
		}
		if err := c.Rename("a.txt", p); replyCode(err) != 553 {
			t.Errorf("RNFR a.txt RNTO %s: %v, want 553", p, err)
		}
	}
	if err := c.ChangeDir(".FTPGATE-dir"); replyCode(err) != 553 {
		t.Errorf("CWD into a reserved directory: %v, want 553", err)
	}

	r := f.rawLoginAs("sam@acme", "acme-sam")
	for _, cmd := range []string{
		"SITE SYMLINK " + tempPrefix + "planted link",
		"SITE SYMLINK a.txt " + tempPrefix + "link",
		"SITE CHMOD 644 " + tempPrefix + "planted",
		"SITE MKDIR d/.ftpgate-e",
		"STAT " + tempPrefix + "planted",
		"MLST " + tempPrefix + "planted",
		"RNFR " + tempPrefix + "planted",
	} {
		if code, msg := r.cmd("%s", cmd); code != 553 {
			t.Errorf("%s: %d %s, want 553", cmd, code, msg)
		}
	}
	dc := r.epsv()
	if code, msg := r.cmd("LIST -a"); code != 150 {
		t.Fatalf("LIST -a: %d %s", code, msg)
	}
	listing, _ := io.ReadAll(dc)
	r.read()
	if strings.Contains(strings.ToLower(string(listing)), reservedPrefix) || !strings.Contains(string(listing), "a.txt") {
		t.Errorf("LIST -a:\n%s", listing)
	}

	got, err := os.ReadFile(filepath.Join(home, tempPrefix+"planted"))
	if err != nil || string(got) != "someone's partial upload" {
		t.Errorf("the reserved file changed: %q, %v", got, err)
	}
	if _, err := os.Lstat(filepath.Join(home, "link")); !os.IsNotExist(err) {
		t.Errorf("a link to a reserved name was made: %v", err)
	}
}

// TestFilesQuotaCountsDirectoriesAndLinks: MKD, SITE MKDIR and SITE
// SYMLINK each take an entry of the files quota, removing one gives it
// back, and a restart counts the same.
func TestFilesQuotaCountsDirectoriesAndLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, linker(t)+"[quota]\nfiles = 5\n"),
	})
	c := f.mustLogin("alice@acme", "acme-alice") // alice's home: 1
	if err := c.MakeDir("a"); err != nil {       // 2
		t.Fatal(err)
	}
	if err := c.MakeDir("b"); err != nil { // 3
		t.Fatal(err)
	}
	r := f.rawLoginAs("sam@acme", "acme-sam")
	if code, msg := r.cmd("SITE SYMLINK a l"); code != 200 { // 4
		t.Fatalf("SITE SYMLINK: %d %s", code, msg)
	}
	if err := c.Stor("f", strings.NewReader("f")); err != nil { // 5
		t.Fatal(err)
	}
	if err := c.MakeDir("c"); replyCode(err) != 552 {
		t.Fatalf("MKD past the files quota: %v, want 552", err)
	}
	if code, msg := r.cmd("SITE MKDIR x/y"); code != 552 {
		t.Fatalf("SITE MKDIR past the files quota: %d %s, want 552", code, msg)
	}
	if code, msg := r.cmd("SITE SYMLINK a m"); code != 552 {
		t.Fatalf("SITE SYMLINK past the files quota: %d %s, want 552", code, msg)
	}
	if err := c.Stor("g", strings.NewReader("g")); replyCode(err) != 552 {
		t.Fatalf("STOR past the files quota: %v, want 552", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data/acme/alice/x")); !os.IsNotExist(err) {
		t.Fatalf("a refused SITE MKDIR made a directory: %v", err)
	}
	if err := c.RemoveDir("b"); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("c"); err != nil {
		t.Fatalf("MKD after RMD gave an entry back: %v", err)
	}
	if err := c.Delete("l"); err != nil {
		t.Fatal(err)
	}
	if code, msg := r.cmd("SITE SYMLINK a m"); code != 200 {
		t.Fatalf("SITE SYMLINK after DELE of a link: %d %s", code, msg)
	}

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
	if _, files := d2.state.Load().tenants["acme"].storage.usage.snapshot(); files != 5 {
		t.Fatalf("entries counted at restart: %d, want 5", files)
	}
	if _, files := f.usageOf(); files != 5 {
		t.Fatalf("entries counted while serving: %d, want 5", files)
	}
}
