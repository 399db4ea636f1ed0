//go:build linux

package tenancy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"
	"golang.org/x/sys/unix"
)

// Attacks on uploads that replace a file (replaceFile: sync_file_range,
// renameat2 RENAME_EXCHANGE, unlinkat of the temporary name), as two
// users of one tenant and as a process changing the tree outside FTP.

// replaceSizes are the sizes the replacing uploads cycle through: empty,
// small, one splice step and more.
var replaceSizes = []int{0, 1, 4096, 65_536, 200_000, 1 << 20, 7}

// checkUsageMatchesDisk fails unless acme's counted entries (and, with
// bytes, its counted bytes) equal what is on disk, and no temporary
// upload file is left in alice's home.
func checkUsageMatchesDisk(t *testing.T, f *fixture, what string, bytes bool) {
	t.Helper()
	used, files := f.usageOf()
	if disk := diskEntries(t, f); files != disk {
		t.Fatalf("%s: %d entries counted, %d on disk", what, files, disk)
	}
	if disk := diskBytes(t, f); bytes && used != disk {
		t.Fatalf("%s: %d bytes counted, %d on disk", what, used, disk)
	}
	home := filepath.Join(f.dir, "data", "acme", "alice")
	for _, d := range []string{home, filepath.Join(home, "sub")} {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			continue
		}
		if left := tempFiles(t, d); len(left) != 0 {
			t.Fatalf("%s: temporary files left in %s: %v", what, d, left)
		}
	}
}

// recountAgrees walks acme's storage as a recount does and fails unless
// what it finds equals what the server counted (entries, and bytes when
// bytes is set).
func recountAgrees(t *testing.T, f *fixture, bytes bool) {
	t.Helper()
	st, err := walkTree(context.Background(), f.driver.state.Load().tenants["acme"].storage.root, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	used, files := f.usageOf()
	if st.files != files || bytes && st.bytes != used {
		t.Fatalf("a recount finds %d bytes, %d entries; the server counted %d, %d", st.bytes, st.files, used, files)
	}
}

// replaceMany has sessions of alice replace files concurrently: each of
// the clients stores rounds files, cycling through a few names (one a
// directory down) and replaceSizes.
func replaceMany(t *testing.T, clients []*ftp.ServerConn, rounds int) {
	t.Helper()
	names := []string{"a.bin", "b.bin", "sub/c.bin", "sub/d.bin"}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				name := names[(i+r)%len(names)]
				n := replaceSizes[(r*3+i)%len(replaceSizes)]
				if err := c.Stor(name, bytes.NewReader(pattern(n, byte(i*16+r)))); err != nil {
					t.Errorf("client %d: STOR %s (%d bytes): %v", i, name, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAttackReplaceKeepsCountsExact: two sessions of one user replace
// the same few files many times at once, with a byte quota and with a
// files quota only; afterwards the entries (and bytes) counted equal
// what is on disk, AVBL gives the quota less the bytes on disk, no
// temporary file is left, and a recount agrees.
func TestAttackReplaceKeepsCountsExact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, quota string
		bytes       bool
	}{
		{"byte quota", "[quota]\nbytes = 50000000\nfiles = 1000\n", true},
		{"files quota", "[quota]\nfiles = 1000\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, map[string]string{
				"server.toml":       serverTOML("default = \"acme\"\n"),
				"tenants/acme.toml": acmeTOML(t, tc.quota),
			})
			a := f.mustLogin("alice", "acme-alice")
			b := f.mustLogin("alice", "acme-alice")
			if err := a.MakeDir("sub"); err != nil {
				t.Fatal(err)
			}
			replaceMany(t, []*ftp.ServerConn{a, b}, 24)
			if t.Failed() {
				return
			}
			checkUsageMatchesDisk(t, f, "after the replacements", tc.bytes)
			if tc.bytes {
				c := f.rawLoginAs("alice", "acme-alice")
				code, msg := c.cmd("AVBL")
				if want := strconv.FormatInt(50_000_000-diskBytes(t, f), 10); code != 213 || msg != want {
					t.Fatalf("AVBL: %d %s; want 213 %s", code, msg, want)
				}
			}
			recountAgrees(t, f, tc.bytes)
		})
	}
}

// TestAttackConcurrentReplaceOfOneName: two sessions store one name at
// the same time, round after round, with different contents: every
// upload gets 226, the file then holds exactly one of the two uploads
// (never a mix, never a loss), nothing temporary is left, and the
// counts equal the disk.
func TestAttackConcurrentReplaceOfOneName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data", "acme", "alice", "same.bin")
	clients := []*ftp.ServerConn{f.mustLogin("alice", "acme-alice"), f.mustLogin("alice", "acme-alice")}
	for r := range 12 {
		payloads := [][]byte{pattern(300_000+r, byte(2*r)), pattern(200_000+7*r, byte(2*r+1))}
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Stor("same.bin", bytes.NewReader(payloads[i])); err != nil {
					t.Errorf("round %d, client %d: STOR: %v", r, i, err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		got, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payloads[0]) && !bytes.Equal(got, payloads[1]) {
			t.Fatalf("round %d: same.bin holds %d bytes that are neither upload", r, len(got))
		}
		checkUsageMatchesDisk(t, f, fmt.Sprintf("round %d", r), true)
	}
}

// inodeOf returns the inode number of the file at p (not following a
// link).
func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestAttackReplaceAndHardLinks: a hard link to a user's file made
// outside FTP keeps the old bytes when an upload replaces the file (the
// exchange moves a new file in; it never writes the old one). APPE and
// REST+STOR write in place, never through the exchange: the file keeps
// its inode and the other name sees the bytes. STOU onto a taken name
// stores under another and leaves both names alone.
func TestAttackReplaceAndHardLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	home := filepath.Join(f.dir, "data", "acme", "alice")
	h, keep := filepath.Join(home, "h.bin"), filepath.Join(home, "keep.bin")
	c := f.mustLogin("alice", "acme-alice")
	old := pattern(10_000, 1)
	if err := c.Stor("h.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(h, keep); err != nil {
		t.Fatal(err)
	}
	before := inodeOf(t, h)
	repl := pattern(20_000, 2)
	if err := c.Stor("h.bin", bytes.NewReader(repl)); err != nil {
		t.Fatal(err)
	}
	assertFile(t, "h.bin after the replacement", h, repl)
	assertFile(t, "keep.bin, a hard link to the old h.bin", keep, old)
	if inodeOf(t, h) == before {
		t.Fatal("the replacement wrote into the old file")
	}
	if err := os.Remove(keep); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(h, keep); err != nil {
		t.Fatal(err)
	}
	ino := inodeOf(t, h)
	tail := []byte("appended")
	if err := c.Append("h.bin", bytes.NewReader(tail)); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), repl...), tail...)
	assertFile(t, "h.bin after APPE", h, want)
	assertFile(t, "keep.bin after APPE to h.bin (in place)", keep, want)
	if inodeOf(t, h) != ino {
		t.Fatal("APPE replaced the file instead of writing in place")
	}
	if err := c.StorFrom("h.bin", strings.NewReader("RESUMED"), 100); err != nil {
		t.Fatal(err)
	}
	want = append(want[:100:100], "RESUMED"...)
	assertFile(t, "h.bin after REST+STOR", h, want)
	assertFile(t, "keep.bin after REST+STOR of h.bin (in place)", keep, want)
	if inodeOf(t, h) != ino {
		t.Fatal("REST+STOR replaced the file instead of writing in place")
	}
	raw := f.rawLoginAs("alice", "acme-alice")
	dc := raw.epsv()
	code, msg := raw.cmd("STOU h.bin")
	if code != 150 {
		t.Fatalf("STOU h.bin: %d %s", code, msg)
	}
	_, _ = dc.Write([]byte("unique"))
	_ = dc.Close()
	code, msg = raw.read()
	if code != 226 || !strings.Contains(msg, "h.bin.") {
		t.Fatalf("STOU h.bin: %d %s; want 226 under another name", code, msg)
	}
	assertFile(t, "h.bin after STOU onto its name", h, want)
	if inodeOf(t, h) != ino {
		t.Fatal("STOU replaced the file it must leave alone")
	}
}

// TestAttackReplaceTargetChangedDuringUpload: while an upload that will
// replace a file runs, a process outside FTP puts at the file's name a
// link (to a file outside the user's home) or a FIFO. The commit sees
// what is there and renames over it (no exchange, no following): the
// name then holds the upload, the link's target keeps its bytes, the
// reply is 226, nothing hangs and nothing temporary is left.
func TestAttackReplaceTargetChangedDuringUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	home := filepath.Join(f.dir, "data", "acme", "alice")
	outside := filepath.Join(f.dir, "data", "acme", "outside.bin")
	if err := os.WriteFile(outside, []byte("not alice's"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := f.mustLogin("alice", "acme-alice")
	for what, plant := range map[string]func(p string) error{
		"a link out of the home": func(p string) error { return os.Symlink("../outside.bin", p) },
		"a FIFO":                 func(p string) error { return syscall.Mkfifo(p, 0o644) },
	} {
		name := strings.ReplaceAll(what, " ", "-") + ".bin"
		target := filepath.Join(home, name)
		if err := c.Stor(name, bytes.NewReader(pattern(5000, 1))); err != nil {
			t.Fatal(err)
		}
		payload := pattern(70_000, 9)
		up := f.startUpload(f.rawLogin(), "STOR", name)
		up.send(payload[:30_000])
		waitFor(t, "the first bytes of the upload", func() bool { return uploadLanded(t, target, 30_000) })
		if err := os.Remove(target); err != nil {
			t.Fatal(err)
		}
		if err := plant(target); err != nil {
			t.Fatal(err)
		}
		up.send(payload[30_000:])
		if code, msg := up.finish(); code != 226 {
			t.Fatalf("%s: the upload: %d %s; want 226", what, code, msg)
		}
		if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s: %s is not a regular file after the upload: %v", what, name, err)
		}
		assertFile(t, what+": the upload", target, payload)
		assertFile(t, what+": the file the link led to", outside, []byte("not alice's"))
		if left := tempFiles(t, home); len(left) != 0 {
			t.Fatalf("%s: temporary files left: %v", what, left)
		}
	}
	if err := c.NoOp(); err != nil {
		t.Fatal(err)
	}
}

// beforeReplaceFs is rootFs with a hook run just before replaceFile,
// after the commit looked at the target under the name lock: the window
// in which a process outside FTP can change the target.
type beforeReplaceFs struct {
	*rootFs
	mu     sync.Mutex
	before func()
}

// replaceFile runs the hook (once), then rootFs's replaceFile.
func (b *beforeReplaceFs) replaceFile(temp, target string, data afero.File, replaced os.FileInfo) (bool, error) {
	b.mu.Lock()
	hook := b.before
	b.before = nil
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	return b.rootFs.replaceFile(temp, target, data, replaced)
}

// crashAfterExchangeFs is rootFs whose replaceFile exchanges the two
// names and stops there, as a process killed between the exchange and
// the unlink leaves the directory: the old bytes under the temporary
// name, no lock on them.
type crashAfterExchangeFs struct {
	*rootFs
	dir string // the root on disk
}

func (c *crashAfterExchangeFs) replaceFile(temp, target string, _ afero.File, _ os.FileInfo) (bool, error) {
	err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(c.dir, temp), unix.AT_FDCWD, filepath.Join(c.dir, target), unix.RENAME_EXCHANGE)
	return err == nil, err
}

// TestAttackReplaceTargetBecomesDirectory: a directory (with a file in
// it) put at the target from outside between the commit's look and the
// exchange is swapped back whole; the upload fails (4xx/5xx, not 226),
// its temporary file goes, its bytes are given back, and the session
// goes on.
func TestAttackReplaceTargetBecomesDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := testRoot(t, dir)
	inner := &beforeReplaceFs{rootFs: &rootFs{root: root}}
	g := &guardFs{inner: inner, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}, maxBytes: 1 << 30}
	addr := serveGuard(t, g)
	c := enginetest.Login(t, addr, "", "u", "p")
	if err := c.Stor("/x.bin", bytes.NewReader(pattern(4000, 1))); err != nil {
		t.Fatal(err)
	}
	used, files := g.u.snapshot()
	x := filepath.Join(dir, "x.bin")
	inner.mu.Lock()
	inner.before = func() {
		if err := os.Remove(x); err != nil {
			t.Error(err)
		}
		if err := os.Mkdir(x, 0o755); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(filepath.Join(x, "inside"), []byte("inside"), 0o644); err != nil {
			t.Error(err)
		}
	}
	inner.mu.Unlock()
	err := c.Stor("/x.bin", bytes.NewReader(pattern(9000, 2)))
	if err == nil || replyCode(err) < 400 {
		t.Fatalf("upload onto a directory swapped in: %v; want a failure", err)
	}
	assertFile(t, "the directory's file", filepath.Join(x, "inside"), []byte("inside"))
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if u, n := g.u.snapshot(); u != used || n != files {
		t.Fatalf("usage after the failed upload: %d bytes, %d entries; want %d, %d", u, n, used, files)
	}
	if err := c.Stor("/y.bin", strings.NewReader("after")); err != nil {
		t.Fatalf("the session after the failure: %v", err)
	}
}

// TestAttackReplaceCrashBetweenExchangeAndUnlink: after a crash between
// the exchange and the unlink (simulated: the exchange alone), the old
// bytes sit unlocked under a temporary name; the next walk removes them
// as an orphan, and its count (the new file, one entry) equals what the
// guard counted when it settled the replacement. The same left at start
// by a dead process (files put there before the server starts) is
// cleaned and counted right by the start-up walk.
func TestAttackReplaceCrashBetweenExchangeAndUnlink(t *testing.T) {
	t.Parallel()
	t.Run("walk after", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		root := testRoot(t, dir)
		g := &guardFs{inner: &crashAfterExchangeFs{rootFs: &rootFs{root: root}, dir: dir}, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}, maxBytes: 1 << 30}
		addr := serveGuard(t, g)
		c := enginetest.Login(t, addr, "", "u", "p")
		old, repl := pattern(30_000, 1), pattern(12_000, 2)
		for _, b := range [][]byte{old, repl} {
			if err := c.Stor("/f.bin", bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
		assertFile(t, "f.bin", filepath.Join(dir, "f.bin"), repl)
		left := tempFiles(t, dir)
		if len(left) != 1 {
			t.Fatalf("temporary files after the simulated crash: %v; want the old file", left)
		}
		assertFile(t, "the old file under the temporary name", filepath.Join(dir, left[0]), old)
		st, err := walkTree(context.Background(), root, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.orphans != 1 || st.orphanBytes != int64(len(old)) {
			t.Fatalf("walk: %d orphans of %d bytes; want 1 of %d", st.orphans, st.orphanBytes, len(old))
		}
		if left := tempFiles(t, dir); len(left) != 0 {
			t.Fatalf("temporary files after the walk: %v", left)
		}
		used, files := g.u.snapshot()
		if st.bytes != used || st.files != files || used != int64(len(repl)) || files != 1 {
			t.Fatalf("walk counted %d bytes, %d entries; the guard %d, %d; on disk %d, 1", st.bytes, st.files, used, files, len(repl))
		}
	})
	t.Run("start", func(t *testing.T) {
		t.Parallel()
		home := "data/acme/alice/"
		f := newFixture(t, map[string]string{
			"server.toml":                          serverTOML("default = \"acme\"\n"),
			"tenants/acme.toml":                    quotaTenant(t, ""),
			home + "f.bin":                         "the new bytes",
			home + tempPrefix + "0123456789abcdef": "the old bytes, longer",
			home + strings.ToUpper(tempPrefix) + "FEDCBA9876543210": "old",
		})
		ents, err := os.ReadDir(filepath.Join(f.dir, home))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].Name() != "f.bin" {
			t.Fatalf("alice's home after the start-up walk: %v; want only f.bin", ents)
		}
		checkUsageMatchesDisk(t, f, "after the start-up walk", true)
		if used, _ := f.usageOf(); used != int64(len("the new bytes")) {
			t.Fatalf("bytes counted: %d", used)
		}
	})
}
