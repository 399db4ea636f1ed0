package engine

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// combReply sends a COMB line and waits for its reply while watching
// watch (a host file): should the file grow past limit bytes, COMB is
// appending without end, and the test sends ABOR and fails rather than
// fill the disk.
func combReply(t *testing.T, c *rawClient, line, watch string, limit int64) (int, string) {
	t.Helper()
	c.send(line)
	type reply struct {
		line string
		err  error
	}
	got := make(chan reply, 1)
	go func() {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := c.r.ReadString('\n')
		got <- reply{l, err}
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-got:
			if r.err != nil || len(r.line) < 4 {
				t.Fatalf("%s: reply %q, %v", line, r.line, r.err)
			}
			var code int
			for _, d := range r.line[:3] {
				code = code*10 + int(d-'0')
			}
			return code, strings.TrimRight(r.line[4:], "\r\n")
		case <-tick.C:
			if fi, err := os.Stat(watch); err == nil && fi.Size() > limit {
				c.send("ABOR")
				t.Fatalf("%s: %s grew to %d bytes (limit %d): COMB appends it to itself", line, watch, fi.Size(), limit)
			}
		}
	}
}

// TestExtCOMBRefusesAFileIntoItself: a part that is the target through a
// symbolic or a hard link (or the target reached through a link) is
// refused with 550 at once, and the file keeps its bytes.
func TestExtCOMBRefusesAFileIntoItself(t *testing.T) {
	fs, dir := extOSFs(t)
	content := extContent(256 << 10)
	extWrite(t, fs, "/self.txt", content)
	if err := os.Link(filepath.Join(dir, "self.txt"), filepath.Join(dir, "hard.txt")); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, withFs(extSymlinkFs{Fs: fs, root: dir}), withCOMB())
	c := ts.login(t)
	c.expect("SITE SYMLINK self.txt selflink", 200)
	watch := filepath.Join(dir, "self.txt")
	limit := int64(4 * len(content))
	for _, line := range []string{"COMB self.txt selflink", "COMB selflink self.txt", "COMB self.txt hard.txt", "COMB hard.txt selflink"} {
		code, text := combReply(t, c, line, watch, limit)
		if code != 550 || !strings.Contains(text, "itself") {
			t.Fatalf("%s: %d %s, want 550 naming the loop", line, code, text)
		}
	}
	if got := extRead(t, fs, "/self.txt"); len(got) != len(content) {
		t.Fatalf("self.txt holds %d bytes, want %d", len(got), len(content))
	}
	for _, p := range []string{"/selflink", "/hard.txt"} {
		if _, err := fs.Stat(p); err != nil {
			t.Fatalf("%s was deleted: %v", p, err)
		}
	}
	// The session goes on, and a proper COMB still works.
	extWrite(t, fs, "/p", []byte("part"))
	c.expect("COMB out p", 200)
}

// growingFs reports /grow as 3 bytes long while it holds more, as a part
// another session appends to (or the target itself, on a storage without
// file identities) looks to COMB.
type growingFs struct{ afero.Fs }

type shortStatFile struct{ afero.File }

type shortInfo struct{ os.FileInfo }

func (shortInfo) Size() int64 { return 3 }

func (f shortStatFile) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return shortInfo{fi}, nil
}

func (fs growingFs) Open(name string) (afero.File, error) {
	f, err := fs.Fs.Open(name)
	if err != nil || name != "/grow" {
		return f, err
	}
	return shortStatFile{f}, nil
}

// TestExtCOMBWritesNoMoreThanItsPartsHeld: COMB appends at most the
// bytes a part held when COMB opened it; a part that holds more when it
// is copied fails the COMB with 450, the target is restored and no part
// is deleted.
func TestExtCOMBWritesNoMoreThanItsPartsHeld(t *testing.T) {
	mem := afero.NewMemMapFs()
	extWrite(t, mem, "/t", []byte("keep"))
	extWrite(t, mem, "/a", []byte("a"))
	extWrite(t, mem, "/grow", []byte("0123456789"))
	ts := newTestServer(t, withFs(growingFs{mem}), withCOMB())
	c := ts.login(t)
	c.expect("COMB t a grow", 450)
	c.expect("COMB new a grow", 450)
	if got := string(extRead(t, mem, "/t")); got != "keep" {
		t.Fatalf("target holds %q", got)
	}
	extMissing(t, mem, "/new")
	extRead(t, mem, "/a")
	extRead(t, mem, "/grow")
}

// TestExtCOMBMaxBytes: with Settings.MaxCOMBBytes, a COMB whose parts
// hold more is refused with 552 before it writes; one within it runs.
func TestExtCOMBMaxBytes(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/a", []byte("123456"))
	extWrite(t, fs, "/b", []byte("789012"))
	extWrite(t, fs, "/c", []byte("3456"))
	ts := newTestServer(t, withFs(fs), withSettings(func(s *Settings) { s.EnableCOMB, s.MaxCOMBBytes = true, 10 }))
	c := ts.login(t)
	if text := c.expect("COMB t a b", 552); !strings.Contains(text, "at most 10") {
		t.Fatalf("552 text %q", text)
	}
	extMissing(t, fs, "/t")
	extRead(t, fs, "/a")
	extRead(t, fs, "/b")
	c.expect("COMB t a c", 200)
	if got := string(extRead(t, fs, "/t")); got != "1234563456" {
		t.Fatalf("combined %q", got)
	}
}

// replacingFs replaces /part with another file (as another session's
// completed upload would, by rename) right after COMB opens it to copy.
type replacingFs struct {
	afero.Fs
	root  string
	opens *atomic.Int32
}

func (fs replacingFs) Open(name string) (afero.File, error) {
	f, err := fs.Fs.Open(name)
	if err == nil && name == "/part" && fs.opens.Add(1) == 2 {
		tmp := filepath.Join(fs.root, ".upload")
		err = os.WriteFile(tmp, []byte("acknowledged elsewhere"), 0o644)
		if err == nil {
			err = os.Rename(tmp, filepath.Join(fs.root, "part"))
		}
		if err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, err
}

// TestExtCOMBKeepsAPartReplacedMeanwhile: a part replaced under its name
// while COMB copies it is not deleted; the target holds what COMB read.
func TestExtCOMBKeepsAPartReplacedMeanwhile(t *testing.T) {
	fs, dir := extOSFs(t)
	extWrite(t, fs, "/part", []byte("original"))
	ts := newTestServer(t, withFs(replacingFs{Fs: fs, root: dir, opens: new(atomic.Int32)}), withCOMB())
	c := ts.login(t)
	if text := c.expect("COMB t part", 450); !strings.Contains(text, "replaced") {
		t.Fatalf("450 text %q", text)
	}
	if got := string(extRead(t, fs, "/t")); got != "original" {
		t.Fatalf("target holds %q", got)
	}
	if got := string(extRead(t, fs, "/part")); got != "acknowledged elsewhere" {
		t.Fatalf("the replacing file holds %q", got)
	}
}
