package tenancy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// statCounter counts the stat-family calls a rootFs makes (onStat).
type statCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *statCounter) note(call string) {
	c.mu.Lock()
	c.n[call]++
	c.mu.Unlock()
}

// take returns the counts since the last take and starts again.
func (c *statCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// guardDriver serves one guardFs to the user "u" with password "p".
type guardDriver struct{ fs *guardFs }

func (d *guardDriver) GetSettings() (*engine.Settings, error) { return &engine.Settings{}, nil }
func (d *guardDriver) ClientConnected(engine.ClientContext) (string, error) {
	return "stat count", nil
}
func (d *guardDriver) ClientDisconnected(engine.ClientContext) {}
func (d *guardDriver) GetTLSConfig() (*tls.Config, error)      { return nil, nil }
func (d *guardDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == "u" && pass == "p" {
		return d.fs, nil
	}
	return nil, errors.New("no")
}

// testRoot opens dir as an os.Root, closed when the test ends.
func testRoot(t testing.TB, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// serveGuard serves g to "u"/"p" (guardDriver) until the test ends and
// returns the server's address.
func serveGuard(t testing.TB, g *guardFs) string {
	t.Helper()
	return enginetest.Start(t, &engine.Server{Driver: &guardDriver{fs: g}, Logger: slog.New(slog.DiscardHandler)}).Addr
}

// TestStatCallsPerTransfer holds down the stat calls the os backend makes
// for the hot commands (issue 17), through a real client against a guard
// with a byte quota, as the bench's tenancy server has: a file at the top
// and one a directory down, each stored twice (new, then replaced), read
// back, and asked its size and time. Before, the guard asked the backend
// again for what resolution had just lstat'ed (RETR: 5 lstats of the one
// name; SIZE and MDTM: 2; STOR: 4), and resolution lstat'ed every
// directory twice. The bytes and replies are checked too.
func TestStatCallsPerTransfer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := testRoot(t, dir)
	cnt := &statCounter{n: map[string]int{}}
	rfs := &rootFs{root: root, onStat: cnt.note}
	g := &guardFs{inner: rfs, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}, maxBytes: 1 << 30}
	addr := serveGuard(t, g)
	c := enginetest.Login(t, addr, "", "u", "p")
	payload := pattern(64<<10, 3)

	// want is the most each command may cost: rootFs's own lstats
	// and fstats (what os.Root does inside a call, and the engine's
	// fstat of an upload handle, are not counted here; strace sees
	// them, bench/README.md).
	type want struct{ lstat, fstat int }
	check := func(what string, w want) {
		t.Helper()
		got := cnt.take()
		if got["lstat"] > w.lstat || got["fstat"] > w.fstat {
			t.Errorf("%s: %d lstat, %d fstat; want at most %d, %d", what, got["lstat"], got["fstat"], w.lstat, w.fstat)
		}
	}
	for _, tc := range []struct {
		name      string
		stor      want // resolve's lstat, the commit's look at what it replaces (the temporary file's check is an fstat of its handle, createTemp)
		retr      want // one resolve (OpenRead), the open's fstat and its lstat after the open
		sizeMDTM  want
		dirLevels int
	}{
		{name: "/top.bin", stor: want{2, 0}, retr: want{2, 1}, sizeMDTM: want{1, 0}},
		// One level down: each resolution lstats d once and checks the
		// handle it opens (fstat), and so does each rootFs call's walk
		// to d (STOR: the temporary file's open, the commit's look, and
		// the rename's two ends; RETR: the open).
		{name: "/d/low.bin", stor: want{2 + 1 + 4, 1 + 4}, retr: want{2 + 1 + 1, 1 + 1 + 1}, sizeMDTM: want{2, 1}},
	} {
		cnt.take()
		for range 2 { // a new name, then one replaced
			if err := c.Stor(tc.name, bytes.NewReader(payload)); err != nil {
				t.Fatalf("STOR %s: %v", tc.name, err)
			}
			check("STOR "+tc.name, tc.stor)
		}
		r, err := c.Retr(tc.name)
		if err != nil {
			t.Fatalf("RETR %s: %v", tc.name, err)
		}
		got, err := io.ReadAll(r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("RETR %s: %d bytes, %v", tc.name, len(got), err)
		}
		check("RETR "+tc.name, tc.retr)
		if n, err := c.FileSize(tc.name); err != nil || n != int64(len(payload)) {
			t.Fatalf("SIZE %s: %d, %v", tc.name, n, err)
		}
		check("SIZE "+tc.name, tc.sizeMDTM)
		if _, err := c.GetTime(tc.name); err != nil {
			t.Fatalf("MDTM %s: %v", tc.name, err)
		}
		check("MDTM "+tc.name, tc.sizeMDTM)
	}
}

// TestRETRThroughOpenReadRefuses: RETR through the guard's OpenRead
// refuses what it must with a real client: a directory (550, not a
// regular file, as after a Stat), a file outside the download right (550)
// and a missing name (550), and a file in a directory the user may only
// list; the readable file's bytes arrive.
func TestRETRThroughOpenReadRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"d", "listonly"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	payload := pattern(4096, 7)
	for _, f := range []string{"f.bin", "listonly/secret.bin"} {
		if err := os.WriteFile(filepath.Join(dir, f), payload, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := testRoot(t, dir)
	g := &guardFs{inner: &rootFs{root: root}, u: &usage{}, rules: []PermissionConfig{
		{Prefix: "/", Allow: PermAll},
		{Prefix: "/listonly", Allow: PermList},
	}}
	addr := serveGuard(t, g)
	c := enginetest.Login(t, addr, "", "u", "p")
	r, err := c.Retr("/f.bin")
	if err != nil {
		t.Fatalf("RETR /f.bin: %v", err)
	}
	got, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("RETR /f.bin: %d bytes, %v", len(got), err)
	}
	for name, want := range map[string]string{
		"/d":                   "not a regular file",
		"/listonly/secret.bin": "550",
		"/missing.bin":         "550",
	} {
		if _, err := c.Retr(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("RETR %s: %v, want %q", name, err, want)
		}
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("the session after the refusals: %v", err)
	}
}
