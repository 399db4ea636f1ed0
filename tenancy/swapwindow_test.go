package tenancy

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
)

// statSwap runs a swap, once, at a chosen stat call rootFs makes (its
// onStat is note) after arm: the way to change the tree between a
// command's resolution and its open. Resolution of /d/x makes three stat
// calls (lstat d, the handle's stat, lstat x); the open's own walk to /d
// starts with the fourth, after the rights were checked on what
// resolution saw.
type statSwap struct {
	mu    sync.Mutex
	at    int    // the call that swaps, counted from arm
	calls int    // calls since arm
	swap  func() // nil once it ran, or when not armed
}

// note is rootFs's onStat.
func (s *statSwap) note(string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swap == nil {
		return
	}
	if s.calls++; s.calls == s.at {
		swap := s.swap
		s.swap = nil
		swap()
	}
}

// arm makes the at-th stat call from now run swap.
func (s *statSwap) arm(at int, swap func()) {
	s.mu.Lock()
	s.at, s.calls, s.swap = at, 0, swap
	s.mu.Unlock()
}

// ran reports whether the armed swap has run, and disarms it.
func (s *statSwap) ran() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ran := s.swap == nil
	s.swap = nil
	return ran
}

// swapRootFs returns a rootFs over dir whose stat calls go to sw.
func swapRootFs(t *testing.T, dir string, sw *statSwap) *rootFs {
	t.Helper()
	root := testRoot(t, dir)
	return &rootFs{root: root, onStat: sw.note}
}

// swapAtOpen returns a guard over dir whose rootFs runs swap once, at the
// first stat of the open's own walk to /d (statSwap's fourth call).
func swapAtOpen(t *testing.T, dir string, rules []PermissionConfig, swap func()) *guardFs {
	t.Helper()
	sw := &statSwap{}
	sw.arm(4, swap)
	return &guardFs{inner: swapRootFs(t, dir, sw), rules: rules, u: &usage{}}
}

// TestOpenRechecksWhatChangedSinceResolution: the guard no longer asks
// the backend again between resolution and the open, so the open itself
// must catch what changed in that window. A file swapped for a link to
// a file the user may not read (beside it: the open's directory handle
// would refuse one leading out of it anyway) is refused, by the lstat
// after the open, which therefore stays; a
// file swapped for a directory needs the list right, which a user with
// only the download right lacks, and its entries are not listed.
func TestOpenRechecksWhatChangedSinceResolution(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		for p, content := range map[string]string{"d/x": "public", "d/secret/s": "secret"} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("link", func(t *testing.T) {
		t.Parallel()
		dir := setup(t)
		rules := []PermissionConfig{{Prefix: "/", Allow: PermAll}, {Prefix: "/d/secret", Allow: 0}}
		g := swapAtOpen(t, dir, rules, func() {
			x := filepath.Join(dir, "d/x")
			if err := os.Remove(x); err != nil {
				t.Error(err)
			}
			if err := os.Symlink("secret/s", x); err != nil {
				t.Error(err)
			}
		})
		f, err := g.Open("/d/x")
		if err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Fatalf("opened %q through a link swapped in after the check", b)
		}
		if !errors.Is(err, errPathChanged) {
			t.Fatalf("open after the swap: %v, want errPathChanged", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := setup(t)
		rules := []PermissionConfig{{Prefix: "/", Allow: PermDownload}}
		g := swapAtOpen(t, dir, rules, func() {
			x := filepath.Join(dir, "d/x")
			if err := os.Remove(x); err != nil {
				t.Error(err)
			}
			if err := os.Mkdir(x, 0o755); err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(filepath.Join(x, "inside"), nil, 0o644); err != nil {
				t.Error(err)
			}
		})
		f, err := g.Open("/d/x")
		if err == nil {
			names, _ := f.Readdirnames(-1)
			f.Close()
			t.Fatalf("a directory swapped in was opened with the download right only; it lists %v", names)
		}
		var re *engine.ReplyError
		if !errors.As(err, &re) || re.Code != 550 {
			t.Fatalf("open after the swap: %v, want a 550 for the list right", err)
		}
	})
}
