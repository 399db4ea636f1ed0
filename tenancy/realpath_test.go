package tenancy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// swapFixture is a root with /pub/d/f.txt, /alice/f.txt, and a rootFs on
// it; swap replaces /pub/d by a link to ../alice, as a user with the
// rename and symlink rights could between a check and a use.
func swapFixture(t *testing.T) (r *rootFs, dir string, swap func()) {
	t.Helper()
	dir = t.TempDir()
	for p, content := range map[string]string{"pub/d/f.txt": "pub", "alice/f.txt": "alice"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return &rootFs{root: root}, dir, func() {
		if err := os.Rename(filepath.Join(dir, "pub/d"), filepath.Join(dir, "pub/d-old")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../alice", filepath.Join(dir, "pub/d")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRootFsFollowsNoLinkAfterTheCheck: a directory swapped for a link
// after the path was resolved and checked is refused by every operation
// of the storage layer, and the file the link leads to is untouched.
func TestRootFsFollowsNoLinkAfterTheCheck(t *testing.T) {
	r, dir, swap := swapFixture(t)
	p, err := r.resolve("/pub/d/f.txt", true)
	if err != nil || p != "/pub/d/f.txt" {
		t.Fatalf("resolve before the swap: %q, %v", p, err)
	}
	swap()
	ops := map[string]func() error{
		"OpenFile O_TRUNC": func() error {
			f, err := r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err == nil {
				f.Close()
			}
			return err
		},
		"Open": func() error {
			f, err := r.Open(p)
			if err == nil {
				f.Close()
			}
			return err
		},
		"Create new": func() error {
			f, err := r.OpenFile("/pub/d/new.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err == nil {
				f.Close()
			}
			return err
		},
		"Stat":   func() error { _, err := r.Stat(p); return err },
		"Remove": func() error { return r.Remove(p) },
		"Rename": func() error { return r.Rename(p, "/pub/moved.txt") },
		"RenameTo": func() error {
			return r.Rename("/pub/d-old/f.txt", "/pub/d/into.txt")
		},
		"Chmod":    func() error { return r.Chmod(p, 0o666) },
		"Mkdir":    func() error { return r.Mkdir("/pub/d/newdir", 0o755) },
		"MkdirAll": func() error { return r.MkdirAll("/pub/d/x/y", 0o755) },
		"Symlink":  func() error { return r.Symlink("/pub", "/pub/d/l") },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, errPathChanged) {
			t.Errorf("%s after the swap: %v, want errPathChanged", name, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "alice/f.txt"))
	if err != nil || string(b) != "alice" {
		t.Fatalf("alice's file: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "alice"))
	if len(entries) != 1 {
		t.Fatalf("alice's directory holds %d entries", len(entries))
	}
	fi, _ := os.Stat(filepath.Join(dir, "alice/f.txt"))
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("alice's file mode %v", fi.Mode())
	}
	// Resolving again sees the link, and a caller then checks the new path.
	if p, err := r.resolve("/pub/d/f.txt", true); err != nil || p != "/alice/f.txt" {
		t.Fatalf("resolve after the swap: %q, %v", p, err)
	}
}

// TestResolveBounds: loops, long chains, absolute targets and targets
// above the root are errors, quickly; a missing element ends resolution.
func TestResolveBounds(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a/b"), 0o755))
	must(os.Symlink("l2", filepath.Join(dir, "l1")))
	must(os.Symlink("l1", filepath.Join(dir, "l2")))
	must(os.Symlink("/etc", filepath.Join(dir, "abs")))
	must(os.Symlink("../..", filepath.Join(dir, "a/up")))
	must(os.Symlink("b/../..", filepath.Join(dir, "a/same")))
	// A chain of 45 links, each to the next: longer than the hop limit.
	for i := range 45 {
		must(os.Symlink("c"+strings.Repeat("x", i+1), filepath.Join(dir, "c"+strings.Repeat("x", i))))
	}
	must(os.Mkdir(filepath.Join(dir, "c"+strings.Repeat("x", 45)), 0o755))
	root, err := os.OpenRoot(dir)
	must(err)
	defer root.Close()
	r := &rootFs{root: root}
	for _, tc := range []struct {
		name, want string
		follow     bool
		fails      bool
	}{
		{"/l1", "", true, true},
		{"/l1", "/l1", false, false},
		{"/l1/x", "", false, true},
		{"/abs/passwd", "", true, true},
		{"/a/up/x", "", true, true},
		{"/a/same/a/b", "/a/b", true, false},
		{"/c", "", true, true},
		{"/" + "c" + strings.Repeat("x", 10), "/c" + strings.Repeat("x", 45), true, false},
		{"/a/missing/deeper/x", "/a/missing/deeper/x", true, false},
		{"/a/b/../b", "/a/b", true, false},
	} {
		got, err := r.resolve(tc.name, tc.follow)
		if (err != nil) != tc.fails || (!tc.fails && got != tc.want) {
			t.Errorf("resolve(%q, %v) = %q, %v", tc.name, tc.follow, got, err)
		}
	}
	// Reading through the jail works for a link that stays inside.
	j := NewJailFs(root)
	must(os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("ok"), 0o644))
	f, err := j.Open("/a/same/a/b/f")
	must(err)
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "ok" {
		t.Fatalf("JailFs read %q", b)
	}
}

// BenchmarkGuardOpen measures opening a file through the guard (resolve,
// rights, then the link-refusing storage) against a plain os.Root open,
// at depths 1 and 8.
func BenchmarkGuardOpen(b *testing.B) {
	dir := b.TempDir()
	for _, depth := range []int{1, 8} {
		p := strings.Repeat("/d", depth-1) + "/f"
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
		root := testRoot(b, dir)
		g := &guardFs{inner: &rootFs{root: root}, u: &usage{}}
		b.Run(fmt.Sprintf("guard/depth=%d", depth), func(b *testing.B) {
			for b.Loop() {
				f, err := g.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		b.Run(fmt.Sprintf("osroot/depth=%d", depth), func(b *testing.B) {
			for b.Loop() {
				f, err := root.Open(p[1:])
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// FuzzResolveLinkTarget: whatever a link planted in the root says, and
// whatever path is asked for through it, resolution gives a clean path
// inside the root or an error, and the jail opens nothing outside it.
func FuzzResolveLinkTarget(f *testing.F) {
	for _, s := range []string{"..", "../..", "/etc", "a/../../x", "a/b", "./a", "a//b/", "l", "../outside/secret", strings.Repeat("../", 50)} {
		f.Add(s, "/l/b")
	}
	f.Add("a", "/l/../l/b/../..")
	base := f.TempDir()
	dir := filepath.Join(base, "root")
	if err := os.MkdirAll(filepath.Join(dir, "a/b"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(base, "outside"), 0o755); err != nil {
		f.Fatal(err)
	}
	secret := filepath.Join(base, "outside/secret")
	if err := os.WriteFile(secret, []byte("s"), 0o644); err != nil {
		f.Fatal(err)
	}
	secretFi, err := os.Stat(secret)
	if err != nil {
		f.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { root.Close() })
	r := &rootFs{root: root}
	j := NewJailFs(root)
	link := filepath.Join(dir, "l")
	f.Fuzz(func(t *testing.T, target, name string) {
		if target == "" || strings.ContainsRune(target, 0) || len(target) > 4000 || strings.ContainsRune(name, 0) {
			return
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return
		}
		defer os.Remove(link)
		for _, follow := range []bool{true, false} {
			p, err := r.resolve(cleanAbs(name), follow)
			if err != nil {
				continue
			}
			if !strings.HasPrefix(p, "/") || cleanAbs(p) != p {
				t.Fatalf("resolve(%q) with l -> %q = %q: not clean", name, target, p)
			}
		}
		if fh, err := j.Open(cleanAbs(name)); err == nil {
			fi, serr := fh.Stat()
			fh.Close()
			if serr == nil && os.SameFile(fi, secretFi) {
				t.Fatalf("%q with l -> %q opened a file outside the root", name, target)
			}
		}
	})
}

// TestRootFsChmodUnreadable: a file the server cannot open for reading
// (as a non-root service account) still gets its mode changed, by name
// after a check that it is no link; as root the handle path does it.
func TestRootFsChmodUnreadable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w")
	if err := os.WriteFile(p, []byte("x"), 0o200); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o200); err != nil {
		t.Fatal(err)
	}
	root := testRoot(t, dir)
	r := &rootFs{root: root}
	if err := r.Chmod("/w", 0o644); err != nil {
		t.Fatalf("Chmod: %v", err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := r.Chmod("/w", 0o400); err == nil {
		t.Fatal("Chmod 400 (no owner write) accepted")
	}
}
