//go:build linux

package tenancy

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// specialNodes plants, from outside FTP, a FIFO, a link to it and (where
// the test may make device nodes) a character device like /dev/null in
// dir, and returns their names.
func specialNodes(t *testing.T, dir string) []string {
	t.Helper()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fifo", filepath.Join(dir, "ln-fifo")); err != nil {
		t.Fatal(err)
	}
	names := []string{"fifo", "ln-fifo"}
	// mknod needs CAP_MKNOD: without it there is no device to plant,
	// and what a user can do to one is moot.
	err := syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o666, 1<<8|3)
	switch {
	case err == nil:
		names = append(names, "null")
	case errors.Is(err, syscall.EPERM):
		t.Log("no device node: mknod is not permitted here")
	default:
		t.Fatal(err)
	}
	return names
}

// extDriver is guardDriver with HASH and COMB turned on.
type extDriver struct{ guardDriver }

func (d *extDriver) GetSettings() (*engine.Settings, error) {
	return &engine.Settings{EnableHASH: true, EnableCOMB: true}, nil
}

// TestAttackSpecialFilesPlantedOutside: a FIFO (no writer, no reader; then
// with a reader held open outside) and a device node put into a user's
// home from outside FTP. Through a real client, RETR, SIZE, HASH, APPE,
// REST+STOR and COMB with it as a part are each refused with 550 "not a
// regular file", at once (no open waits for a peer, every reply within
// the client's deadline), writing nothing into the node (a reader of the
// FIFO receives no byte); MDTM, SITE CHMOD (through a handle) and LIST
// answer; a plain STOR replaces
// the node with a regular file holding the bytes; the session stays
// usable. Before, APPE and REST+STOR opened the node and wrote into it:
// a device swallowed the bytes and the client got 226, a FIFO with a
// reader carried them out of the storage, one without failed with a
// vague "operation failed".
func TestAttackSpecialFilesPlantedOutside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "part.bin"), []byte("part"), 0o644); err != nil {
		t.Fatal(err)
	}
	nodes := specialNodes(t, dir)
	root := testRoot(t, dir)
	g := &guardFs{inner: &rootFs{root: root}, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}, maxBytes: 1 << 30}
	addr := enginetest.Start(t, &engine.Server{Driver: &extDriver{guardDriver{fs: g}}, Logger: slog.New(slog.DiscardHandler)}).Addr
	// A raw client: every read has a deadline, so a wait fails the test.
	c := (&fixture{t: t, addr: addr}).dialRaw()
	c.login("u", "p")
	c.Expect("TYPE I", 200)

	// A reader of the FIFO held open outside, from the second round on:
	// an upload that opened the FIFO would hand it the bytes.
	var reader *os.File
	t.Cleanup(func() {
		if reader != nil {
			reader.Close()
		}
	})
	refused := func(what string, code int, msg string) {
		t.Helper()
		if code != 550 || !strings.Contains(msg, "not a regular file") {
			t.Fatalf("%s: %d %s; want 550 not a regular file", what, code, msg)
		}
	}
	for round := range 2 {
		if round == 1 {
			var err error
			if reader, err = os.OpenFile(filepath.Join(dir, "fifo"), os.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range nodes {
			p := "/" + n
			code, msg := c.dataCmd("RETR " + p)
			refused("RETR "+p, code, msg)
			code, msg = c.cmd("SIZE %s", p)
			refused("SIZE "+p, code, msg)
			code, msg = c.cmd("HASH %s", p)
			refused("HASH "+p, code, msg)
			code, msg = c.dataCmd("APPE " + p)
			refused("APPE "+p, code, msg)
			c.Expect("REST 3", 350)
			code, msg = c.dataCmd("STOR " + p)
			refused("REST+STOR "+p, code, msg)
			code, msg = c.cmd("COMB /combined.bin %s /part.bin", p)
			refused("COMB with "+p, code, msg)
			if code, msg := c.cmd("MDTM %s", p); code != 213 {
				t.Fatalf("MDTM %s: %d %s", p, code, msg)
			}
			// The mode is changed through a handle (fchmod): its open
			// must not wait for a peer either.
			if code, msg := c.cmd("SITE CHMOD 640 %s", p); code != 200 {
				t.Fatalf("SITE CHMOD %s: %d %s", p, code, msg)
			}
			if code, msg := c.dataCmd("LIST /"); code != 226 {
				t.Fatalf("LIST /: %d %s", code, msg)
			}
		}
		if reader != nil {
			b := make([]byte, 64)
			if n, err := reader.Read(b); n > 0 {
				t.Fatalf("the FIFO's reader outside got %q: bytes left the storage", b[:n])
			} else if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Logf("the FIFO's reader: %v", err)
			}
		}
	}
	c.Expect("NOOP", 200)
	// A plain STOR replaces the node itself (its temporary file is
	// renamed over the name; the node is never opened).
	for _, n := range nodes {
		if code, msg := c.dataCmd("STOR /" + n); code != 226 {
			t.Fatalf("STOR /%s: %d %s", n, code, msg)
		}
		p := filepath.Join(dir, n)
		if n == "ln-fifo" {
			p = filepath.Join(dir, "fifo") // the link's target is what is stored
		}
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("after STOR /%s: %v, %v; want a regular file", n, fi, err)
		}
		assertFile(t, n, p, []byte("uploaded"))
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	c.Expect("NOOP", 200)
}

// subFile makes a tree holding /sub/x.bin with content and returns its
// directory and the file's path.
func subFile(t *testing.T, content string) (dir, x string) {
	t.Helper()
	dir = t.TempDir()
	x = filepath.Join(dir, "sub", "x.bin")
	if err := os.MkdirAll(filepath.Dir(x), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(x, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, x
}

// fifoInPlaceOf replaces the file x with a FIFO, from outside FTP (from a
// swap, so failures are reported with Error); false when it could not.
func fifoInPlaceOf(t *testing.T, x string) bool {
	if err := os.Remove(x); err != nil {
		t.Error(err)
		return false
	}
	if err := syscall.Mkfifo(x, 0o666); err != nil {
		t.Error(err)
		return false
	}
	return true
}

// TestAttackFIFOSwappedInBeforeAppend: /sub/x.bin is a regular file when
// APPE's resolution looks, and a FIFO with a reader outside when the open
// comes (swapped after the rights were checked, at the open's walk to
// /sub). The APPE is refused with 550 "not a regular file" and the reader
// gets no byte; the session goes on. Without the check of the opened
// handle, the upload wrote into the FIFO and got 226.
func TestAttackFIFOSwappedInBeforeAppend(t *testing.T) {
	t.Parallel()
	dir, x := subFile(t, "old")
	var reader *os.File
	t.Cleanup(func() {
		if reader != nil {
			reader.Close()
		}
	})
	swap := func() {
		if !fifoInPlaceOf(t, x) {
			return
		}
		var err error
		if reader, err = os.OpenFile(x, os.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
			t.Error(err)
		}
	}
	sw := &statSwap{}
	g := &guardFs{inner: swapRootFs(t, dir, sw), rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}}
	addr := serveGuard(t, g)
	c := (&fixture{t: t, addr: addr}).dialRaw()
	c.login("u", "p")
	c.Expect("TYPE I", 200)
	// The open's walk to /sub starts at the fourth stat call (statSwap);
	// only the one APPE runs while armed.
	sw.arm(4, swap)
	code, msg := c.dataCmd("APPE /sub/x.bin")
	if !sw.ran() {
		t.Fatal("the swap did not happen (APPE made fewer stat calls)")
	}
	if code != 550 || !strings.Contains(msg, "not a regular file") {
		t.Fatalf("APPE onto a FIFO swapped in: %d %s; want 550 not a regular file", code, msg)
	}
	b := make([]byte, 64)
	if n, _ := reader.Read(b); n > 0 {
		t.Fatalf("the FIFO's reader outside got %q", b[:n])
	}
	c.Expect("NOOP", 200)
}

// TestAttackFIFOSwappedInBeforeHASH: HASH's Stat sees /sub/x.bin as a
// file; before its open, the file is swapped from outside for a FIFO
// whose writer stays open and never writes. The guard refuses to open
// what is neither a file nor a directory (550 not a regular file), so
// HASH answers at once and the session goes on. Before, the open took
// the FIFO and the hash's read waited for bytes that never came; ABOR
// waited for it too, and the session was stuck until the writer left.
func TestAttackFIFOSwappedInBeforeHASH(t *testing.T) {
	t.Parallel()
	dir, x := subFile(t, "0123456789")
	var (
		mu     sync.Mutex
		writer *os.File
	)
	swap := func() {
		if !fifoInPlaceOf(t, x) {
			return
		}
		// O_RDWR never waits: a writer that stays and never writes.
		w, err := os.OpenFile(x, os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		writer = w
		mu.Unlock()
	}
	sw := &statSwap{}
	g := &guardFs{inner: swapRootFs(t, dir, sw), rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}}
	addr := enginetest.Start(t, &engine.Server{Driver: &extDriver{guardDriver{fs: g}}, Logger: slog.New(slog.DiscardHandler)}).Addr
	// Runs before the server's close: should a read wait on the FIFO,
	// the writer's leaving ends it.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if writer != nil {
			writer.Close()
		}
	})
	c := (&fixture{t: t, addr: addr}).dialRaw()
	c.login("u", "p")
	// HASH's Stat of /sub/x.bin makes three stat calls; its open's
	// resolution starts with the fourth (statSwap).
	sw.arm(4, swap)
	code, msg := c.cmd("HASH /sub/x.bin")
	if !sw.ran() {
		t.Fatal("the swap did not happen (HASH made fewer stat calls)")
	}
	if code != 550 || !strings.Contains(msg, "not a regular file") {
		t.Fatalf("HASH of a file swapped for a FIFO: %d %s; want 550 not a regular file", code, msg)
	}
	c.Expect("NOOP", 200)
}
