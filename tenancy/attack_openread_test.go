//go:build linux

package tenancy

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
)

// Attacks on RETR through the guard's OpenRead (engine openDownload), as
// a tenant user: every right the Stat-then-open path enforced must hold,
// what changes between resolution and the open must be caught, and no
// refusal may leave a descriptor open.

// openReadTree builds a user's root below base (returned: the root) and,
// beside it, a file outside the root that links try to reach.
func openReadTree(t *testing.T, base string) string {
	t.Helper()
	dir := filepath.Join(base, "home")
	files := map[string][]byte{
		"f.bin":               pattern(5000, 1),
		"listonly/secret.bin": []byte("list only"),
		"nodl/secret.bin":     []byte("no download"),
		"denied/secret.bin":   []byte("denied"),
		"sub/f.bin":           pattern(3000, 2),
		"sub/denied/s.bin":    []byte("sub denied"),
		".ftpgate-upload-abc": []byte("partial upload"),
		".FTPGATE-Upload-DEF": []byte("partial upload"),
		"d/.Ftpgate-x":        []byte("server file"),
		"d/keep":              nil,
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "outside.bin"), []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"ln-nodl":     "nodl/secret.bin",
		"ln-denied":   "denied/secret.bin",
		"ln-listonly": "listonly/secret.bin",
		"ln-dir":      "d",
		"ln-out":      "../outside.bin",
		"ln-abs":      filepath.Join(base, "outside.bin"),
		"ln-reserved": ".ftpgate-upload-abc",
		"ln-fifo":     "fifo",
		"ln-loop":     "ln-loop",
		"d/ln-up":     "../denied/secret.bin",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openReadRules are the rights of the user in openReadTree.
func openReadRules() []PermissionConfig {
	return []PermissionConfig{
		{Prefix: "/", Allow: PermAll},
		{Prefix: "/listonly", Allow: PermList},
		{Prefix: "/nodl", Allow: PermList | PermUpload | PermOverwrite | PermDelete},
		{Prefix: "/denied", Allow: 0},
		{Prefix: "/sub/denied", Allow: 0},
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// retrRefused fails the test unless RETR p (from offset) is refused with
// one of codes through jlaffaye/ftp, no byte of the file arriving.
func retrRefused(t *testing.T, c *ftp.ServerConn, p string, offset uint64, codes ...int) {
	t.Helper()
	r, err := c.RetrFrom(p, offset)
	if err == nil {
		b, _ := io.ReadAll(r)
		_ = r.Close()
		t.Fatalf("RETR %s (REST %d): accepted, %d bytes %.40q", p, offset, len(b), b)
	}
	got := replyCode(err)
	for _, code := range codes {
		if got == code {
			return
		}
	}
	t.Fatalf("RETR %s (REST %d): %v; want one of %v", p, offset, err, codes)
}

// TestAttackRETRThroughOpenReadRights: RETR through OpenRead refuses, with
// a real client, what a user may not download however it is named: a
// list-only file, one under a prefix without download or without any
// right, the same through links inside the tenant (also from a
// directory below), a link leading out of the home (relative or
// absolute), a link loop, a directory (directly and by link), reserved
// names in any case (also through a link), a FIFO planted from outside
// (directly and by link: no hang), and a missing name; a user who must
// use TLS gets 521 before anything is opened. Each refusal closes what
// it opened: after 20 rounds of all of them the process holds no more
// descriptors than before, and the session still serves the file.
func TestAttackRETRThroughOpenReadRights(t *testing.T) {
	// Not parallel: the descriptor count is the process's.
	base := t.TempDir()
	dir := openReadTree(t, base)
	root := testRoot(t, dir)
	g := &guardFs{inner: &rootFs{root: root}, rules: openReadRules(), u: &usage{}}
	addr := serveGuard(t, g)
	c := enginetest.Login(t, addr, "", "u", "p")
	// The same home for a user who must use TLS (tls_required), here
	// on a clear data connection.
	gTLS := &guardFs{inner: &rootFs{root: root}, rules: openReadRules(), u: &usage{}, needTLS: func() bool { return true }}
	srvTLS := enginetest.Start(t, &engine.Server{Driver: &guardDriver{fs: gTLS}, Logger: slog.New(slog.DiscardHandler)})
	cTLS := enginetest.Login(t, srvTLS.Addr, "", "u", "p")

	refusals := []struct {
		path  string
		codes []int
	}{
		{"/listonly/secret.bin", []int{550}},
		{"/nodl/secret.bin", []int{550}},
		{"/denied/secret.bin", []int{550}},
		{"/ln-nodl", []int{550}},
		{"/ln-denied", []int{550}},
		{"/ln-listonly", []int{550}},
		{"/d/ln-up", []int{550}},
		{"/d/../denied/secret.bin", []int{550}},
		{"/sub/denied/s.bin", []int{550}},
		{"/ln-out", []int{550}},
		{"/ln-abs", []int{550}},
		{"/ln-loop", []int{550}},
		{"/d", []int{550}},
		{"/ln-dir", []int{550}},
		{"/", []int{550}},
		{"/.ftpgate-upload-abc", []int{553}},
		{"/.FTPGATE-UPLOAD-ABC", []int{553}},
		{"/.FtpGate-Upload-DEF", []int{553}},
		{"/d/.ftpgate-x", []int{553}},
		{"/ln-reserved", []int{553}},
		{"/fifo", []int{550}},
		{"/ln-fifo", []int{550}},
		{"/missing.bin", []int{550}},
	}
	round := func() {
		t.Helper()
		for _, r := range refusals {
			retrRefused(t, c, r.path, 0, r.codes...)
		}
		// REST past the end of a readable file: 554.
		retrRefused(t, c, "/f.bin", 5001, 554)
		// A user who must use TLS, on a clear data connection.
		retrRefused(t, cTLS, "/f.bin", 0, 521)
		retrRefused(t, cTLS, "/nodl/secret.bin", 0, 521)
		retrRefused(t, cTLS, "/fifo", 0, 521)
	}
	round() // warm up: the pools and the engine's buffers
	if err := c.NoOp(); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	for range 20 {
		round()
	}
	// The data connections the client closed go away on the server's
	// side asynchronously: poll (bounded) for the count to come back.
	waitFor(t, fmt.Sprintf("descriptors back to %d after the refusals", before), func() bool {
		return openFDs(t) <= before+2
	})
	r, err := c.Retr("/f.bin")
	if err != nil {
		t.Fatalf("RETR /f.bin after the refusals: %v", err)
	}
	got, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(got, pattern(5000, 1)) {
		t.Fatalf("RETR /f.bin after the refusals: %d bytes, %v", len(got), err)
	}
	// Nothing the refusals touched changed.
	assertFile(t, "outside.bin", filepath.Join(base, "outside.bin"), []byte("outside the root"))
	assertFile(t, "the reserved file", filepath.Join(dir, ".ftpgate-upload-abc"), []byte("partial upload"))
}

// TestAttackRETRRestAndOpeningReply: the 150 reply of a RETR through
// OpenRead gives the bytes that will come (the file's size less the REST
// offset, from the opened handle), and the bytes match: from an offset
// inside the file, at its very end (0 bytes, 226), past it (554, no
// 150), and a REST that is used once only.
func TestAttackRETRRestAndOpeningReply(t *testing.T) {
	t.Parallel()
	dir := openReadTree(t, t.TempDir())
	root := testRoot(t, dir)
	g := &guardFs{inner: &rootFs{root: root}, rules: openReadRules(), u: &usage{}}
	addr := serveGuard(t, g)
	c := (&fixture{t: t, addr: addr}).dialRaw()
	c.login("u", "p")
	c.Expect("TYPE I", 200)
	payload := pattern(5000, 1)
	for _, tc := range []struct {
		rest    int64
		opening string
		want    []byte
	}{
		{1000, "(4000 bytes)", payload[1000:]},
		{5000, "(0 bytes)", nil},
		{0, "(5000 bytes)", payload},
	} {
		if tc.rest > 0 {
			c.Expect(fmt.Sprintf("REST %d", tc.rest), 350)
		}
		dc := c.epsv()
		code, msg := c.cmd("RETR /f.bin")
		if code != 150 || !strings.Contains(msg, tc.opening) {
			t.Fatalf("RETR after REST %d: %d %s; want 150 with %s", tc.rest, code, msg, tc.opening)
		}
		got, err := io.ReadAll(dc)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("RETR after REST %d: %d bytes, %v; want %d", tc.rest, len(got), err, len(tc.want))
		}
		if code, msg := c.read(); code != 226 {
			t.Fatalf("RETR after REST %d: %d %s", tc.rest, code, msg)
		}
	}
	c.Expect("REST 5001", 350)
	c.epsv()
	if code, msg := c.cmd("RETR /f.bin"); code != 554 {
		t.Fatalf("RETR after REST past the end: %d %s", code, msg)
	}
	// The refused REST is gone: the next RETR sends the whole file.
	dc := c.epsv()
	if code, msg := c.cmd("RETR /f.bin"); code != 150 || !strings.Contains(msg, "(5000 bytes)") {
		t.Fatalf("RETR after a refused REST: %d %s", code, msg)
	}
	if got, err := io.ReadAll(dc); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("RETR after a refused REST: %d bytes, %v", len(got), err)
	}
	if code, msg := c.read(); code != 226 {
		t.Fatalf("RETR after a refused REST: %d %s", code, msg)
	}
}

// TestAttackRETRSwapBetweenResolutionAndOpen: /sub/f.bin is swapped from
// outside after OpenRead's resolution looked at it and checked the
// rights, before the open (the open's own walk to /sub): for a link to a
// file the user may not read, a link out of the home, a directory, and a
// FIFO. Each RETR is refused with 550 without a 150 or a byte of what
// was swapped in, in bounded time (the FIFO's open does not wait for a
// writer), the session goes on, and no descriptor stays open.
func TestAttackRETRSwapBetweenResolutionAndOpen(t *testing.T) {
	// Not parallel: the descriptor count is the process's.
	base := t.TempDir()
	dir := openReadTree(t, base)
	// Resolution of /sub/f.bin makes three stat calls; the open's walk
	// starts with the fourth, after the rights were checked on what
	// resolution saw (statSwap).
	sw := &statSwap{}
	r := swapRootFs(t, dir, sw)
	rules := openReadRules()
	g := &guardFs{inner: r, rules: rules, u: &usage{}}
	addr := serveGuard(t, g)
	// A raw client: its every read has a deadline, so an open that
	// waited for a FIFO's writer fails the test instead of hanging it.
	c := (&fixture{t: t, addr: addr}).dialRaw()
	c.login("u", "p")
	target := filepath.Join(dir, "sub", "f.bin")
	t.Cleanup(func() {
		// Should an open be waiting on a FIFO at target, a writer's
		// open lets it go, so that the server can close.
		if fi, err := os.Lstat(target); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			if w, err := os.OpenFile(target, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				_ = w.Close()
			}
		}
	})
	original := pattern(3000, 2)
	restore := func() {
		t.Helper()
		if err := os.RemoveAll(target); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, original, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	replaceWith := func(make func(p string) error) func() {
		return func() {
			if err := os.Remove(target); err != nil {
				t.Error(err)
				return
			}
			if err := make(target); err != nil {
				t.Error(err)
			}
		}
	}
	swaps := map[string]func(){
		"a link to a denied file": replaceWith(func(p string) error { return os.Symlink("denied/s.bin", p) }),
		"a link out of the home":  replaceWith(func(p string) error { return os.Symlink("../../outside.bin", p) }),
		"a directory": replaceWith(func(p string) error {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "inside"), []byte("inside"), 0o644)
		}),
		"a FIFO": replaceWith(func(p string) error { return syscall.Mkfifo(p, 0o644) }),
	}
	attempt := func(what string, do func()) {
		t.Helper()
		restore()
		sw.arm(4, do)
		c.Expect("EPSV", 229)
		if code, msg := c.cmd("RETR /sub/f.bin"); code != 550 {
			t.Fatalf("%s: RETR: %d %s; want 550", what, code, msg)
		}
		if !sw.ran() {
			t.Fatalf("%s: the swap did not happen (the RETR made fewer stat calls)", what)
		}
	}
	for what, do := range swaps {
		attempt(what, do)
	}
	c.Expect("NOOP", 200)
	before := openFDs(t)
	for range 10 {
		for what, do := range swaps {
			attempt(what, do)
		}
	}
	waitFor(t, fmt.Sprintf("descriptors back to %d after the swaps", before), func() bool {
		return openFDs(t) <= before+2
	})
	restore()
	jc := enginetest.Login(t, addr, "", "u", "p")
	resp, err := jc.Retr("/sub/f.bin")
	if err != nil {
		t.Fatalf("RETR after the swaps: %v", err)
	}
	got, err := io.ReadAll(resp)
	if cerr := resp.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(got, original) {
		t.Fatalf("RETR after the swaps: %d bytes, %v", len(got), err)
	}
	c.Expect("NOOP", 200)
}
