package tenancy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChangesWaitForTheCount: while a tenant's usage is being counted, a
// tenant with a quota gets a transient 450 for every change, and reading
// goes on; once counted, changes go through.
func TestChangesWaitForTheCount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, linker(t)),
	})
	f.writeFile("data/acme/alice/a.txt", "a")
	c := f.mustLogin("alice@acme", "acme-alice")
	r := f.rawLoginAs("sam@acme", "acme-sam")
	u := f.driver.state.Load().tenants["acme"].storage.usage
	if !u.beginCount() {
		t.Fatal("a count was already running")
	}
	if err := c.Stor("b.txt", strings.NewReader("b")); replyCode(err) != 450 {
		t.Errorf("STOR while counting: %v, want 450", err)
	}
	if err := c.MakeDir("d"); replyCode(err) != 450 {
		t.Errorf("MKD while counting: %v, want 450", err)
	}
	if err := c.Delete("a.txt"); replyCode(err) != 450 {
		t.Errorf("DELE while counting: %v, want 450", err)
	}
	if err := c.Rename("a.txt", "c.txt"); replyCode(err) != 450 {
		t.Errorf("RNTO while counting: %v, want 450", err)
	}
	if code, msg := r.cmd("SITE SYMLINK a.txt l"); code != 450 {
		t.Errorf("SITE SYMLINK while counting: %d %s, want 450", code, msg)
	}
	if code, msg := r.cmd("AVBL"); code != 450 {
		t.Errorf("AVBL while counting: %d %s, want 450", code, msg)
	}
	rd, err := c.Retr("a.txt")
	if err != nil {
		t.Fatalf("RETR while counting: %v", err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if string(got) != "a" {
		t.Fatalf("RETR while counting: %q", got)
	}
	u.endCount(u.snapshot())
	if err := c.Stor("b.txt", strings.NewReader("b")); err != nil {
		t.Fatalf("STOR once counted: %v", err)
	}
}

// TestWalkCountsAndCleans: the walk counts entries and bytes without
// following links, removes orphaned temporary files (not counting them),
// keeps and counts the bytes of a locked one, and stops at its depth cap.
func TestWalkCountsAndCleans(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/f", "12345")
	write("a/"+tempPrefix+"orphan", "0123456789")
	write("b/"+tempPrefix+"live", "abc")
	if err := os.Symlink("a", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	buildDeepTree(t, filepath.Join(dir, "b"), maxWalkDepth+5)
	live, err := os.OpenFile(filepath.Join(dir, "b", tempPrefix+"live"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if !tryLockFile(live) {
		t.Fatal("could not lock the live temporary file")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	st, err := walkTree(context.Background(), root, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Entries: a, a/f, b, link, the file at depth 11, and the chain of
	// "d" directories (depth 2 on) seen from the directories entered,
	// which go down to maxWalkDepth; bytes: a/f, the live file, the file
	// at depth 11.
	wantFiles := int64(4 + 1 + maxWalkDepth)
	if st.files != wantFiles || st.bytes != 5+3+5 || st.orphans != 1 || st.tooDeep != 1 {
		t.Fatalf("walk: %+v; want %d entries, 13 bytes, 1 orphan, 1 directory too deep", st, wantFiles)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", tempPrefix+"orphan")); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b", tempPrefix+"live")); err != nil {
		t.Fatalf("a running upload's file was removed: %v", err)
	}
}

// BenchmarkWalkTree measures the usage walk over a wide tree (time per
// entry stays flat with the tree's size: the walk is linear).
func BenchmarkWalkTree(b *testing.B) {
	dir := b.TempDir()
	for i := range 20 {
		sub := filepath.Join(dir, "d"+string(rune('a'+i)))
		if err := os.Mkdir(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range 50 {
			if err := os.WriteFile(filepath.Join(sub, "f"+string(rune('a'+j%26))+string(rune('a'+j/26))), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := walkTree(context.Background(), root, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1020, "ns/entry")
}

// BenchmarkWalkDeepTree measures the walk down a chain of directories as
// deep as it goes: linear in the depth, where resolving each path from
// the root would be quadratic.
func BenchmarkWalkDeepTree(b *testing.B) {
	dir := b.TempDir()
	cur, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	for range maxWalkDepth {
		if err := cur.Mkdir("d", 0o755); err != nil {
			b.Fatal(err)
		}
		next, err := cur.OpenRoot("d")
		if err != nil {
			b.Fatal(err)
		}
		_ = cur.Close()
		cur = next
	}
	_ = cur.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := walkTree(context.Background(), root, false, nil); err != nil {
			b.Fatal(err)
		}
	}
}
