package tenancy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestSessionEndClosesItsHomeHandles: the home a session opened (its
// os.Root, and the directory handle kept for replacing uploads) is
// closed when the client quits. Through the driver and a real client;
// the test holds the kept handle, so no finalizer can close it instead.
func TestSessionEndClosesItsHomeHandles(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	c, err := f.login("alice", "acme-alice")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // a new file, then two replacing uploads
		if err := c.Stor("/f.bin", bytes.NewReader(pattern(100, byte(i)))); err != nil {
			t.Fatalf("STOR %d: %v", i, err)
		}
	}
	f.driver.mu.Lock()
	var homes []*rootFs
	for _, s := range f.driver.sessions {
		s.mu.Lock()
		if h, ok := s.root.(*rootFs); ok {
			homes = append(homes, h)
		}
		s.mu.Unlock()
	}
	f.driver.mu.Unlock()
	if len(homes) != 1 {
		t.Fatalf("%d sessions with an os home, want 1", len(homes))
	}
	h := homes[0]
	h.dotMu.Lock()
	dot := h.dot
	h.dotMu.Unlock()
	if dot == nil {
		t.Fatal("two replacing uploads kept no directory handle")
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	enginetest.Eventually(t, "the kept directory handle closed", func() bool {
		_, err := dot.Stat()
		return err != nil
	})
	if _, err := h.root.Stat("."); err == nil {
		t.Fatal("the home's root is still open after the session ended")
	}
}

// TestReplacingUploadsKeepOneDirectoryHandle: a session's home (keepDot)
// opens its directory for the exchange of a replacing upload once, on
// the first, and keeps it for the next ones (issue 17: an open, a failed
// epoll registration and a close per upload before); after Close it
// keeps none, and an upload still replaces its file. Through a real
// client; the bytes are checked.
func TestReplacingUploadsKeepOneDirectoryHandle(t *testing.T) {
	t.Parallel()
	root := testRoot(t, t.TempDir())
	cnt := &statCounter{n: map[string]int{}}
	rfs := &rootFs{root: root, onStat: cnt.note, keepDot: true}
	g := &guardFs{inner: rfs, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}}
	c := enginetest.Login(t, serveGuard(t, g), "", "u", "p")
	for i := range 4 {
		if err := c.Stor("/f.bin", bytes.NewReader(pattern(1000+i, byte(i)))); err != nil {
			t.Fatalf("STOR %d: %v", i, err)
		}
	}
	// The first STOR makes the file (a rename, no exchange); the three
	// after it replace it.
	if n := cnt.take()["opendot"]; n != 1 {
		t.Fatalf("three replacing uploads opened the directory %d times, want once", n)
	}
	if got, err := os.ReadFile(filepath.Join(root.Name(), "f.bin")); err != nil || !bytes.Equal(got, pattern(1003, 3)) {
		t.Fatalf("after the replacing uploads: %d bytes, %v", len(got), err)
	}

	// Closed (the session's end), the root can no longer be used, so a
	// kept handle must not be either; an unkept one is opened per call.
	rfs.dotMu.Lock()
	dot := rfs.dot
	rfs.dotMu.Unlock()
	if dot == nil {
		t.Fatal("no kept handle")
	}
	other := &rootFs{root: testRoot(t, root.Name()), onStat: cnt.note, keepDot: true}
	other.closed = true // as after Close, with a root still open
	g2 := &guardFs{inner: other, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}}
	c2 := enginetest.Login(t, serveGuard(t, g2), "", "u", "p")
	for i := range 2 {
		if err := c2.Stor("/f.bin", bytes.NewReader(pattern(2000+i, byte(i)))); err != nil {
			t.Fatalf("STOR after close %d: %v", i, err)
		}
	}
	if n := cnt.take()["opendot"]; n != 2 || other.dot != nil {
		t.Fatalf("after Close: %d opens for two replacing uploads and a kept handle %v; want 2 and none", n, other.dot)
	}
	if got, err := os.ReadFile(filepath.Join(root.Name(), "f.bin")); err != nil || !bytes.Equal(got, pattern(2001, 1)) {
		t.Fatalf("after the uploads past Close: %d bytes, %v", len(got), err)
	}
	if err := rfs.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dot.Stat(); err == nil {
		t.Fatal("Close left the kept directory handle open")
	}
}
