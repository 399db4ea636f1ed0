package main

import (
	"errors"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// ftpCode returns the reply code of a jlaffaye error, or 0.
func ftpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// TestServeRootJailsSymlinks: `serve --root` without --config keeps every
// operation inside the directory whatever links in it say (absolute, or
// relative and climbing out), for downloads, listings, CWD, SIZE and
// uploads, while links that stay inside still work.
func TestServeRootJailsSymlinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "inside.txt"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("outside secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"in-link":      "inside.txt",
		"sub/back":     "../inside.txt",
		"evil":         "/etc",
		"abs-outside":  outside,
		"up":           "../outside",
		"sub/deep-up":  "../../outside/secret.txt",
		"sub/dir-link": "..",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	rs := startServe(t, "--root", root, "--user", "u:pw")
	c, err := ftp.Dial(rs.addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "pw"); err != nil {
		t.Fatal(err)
	}
	retr := func(p string) (string, error) {
		r, err := c.Retr(p)
		if err != nil {
			return "", err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		return string(b), err
	}
	for _, p := range []string{"in-link", "sub/back", "sub/dir-link/inside.txt"} {
		if got, err := retr(p); err != nil || got != "inside" {
			t.Errorf("RETR %s through a link inside the root: %q, %v", p, got, err)
		}
	}
	for _, p := range []string{"evil/passwd", "evil/hostname", "abs-outside/secret.txt", "up/secret.txt", "sub/deep-up"} {
		if got, err := retr(p); err == nil {
			t.Errorf("RETR %s succeeded: %q", p, got)
		} else if ftpCode(err) != 550 {
			t.Errorf("RETR %s: %v, want 550", p, err)
		}
		if _, err := c.FileSize(p); ftpCode(err) != 550 {
			t.Errorf("SIZE %s: %v, want 550", p, err)
		}
	}
	for _, p := range []string{"evil", "up", "abs-outside"} {
		if err := c.ChangeDir(p); err == nil {
			pwd, _ := c.CurrentDir()
			t.Errorf("CWD %s succeeded (now in %s)", p, pwd)
			_ = c.ChangeDir("/")
		}
		if names, err := c.NameList(p); err == nil && len(names) > 0 {
			t.Errorf("NLST %s listed %d names, e.g. %q", p, len(names), names[0])
		}
		if entries, err := c.List(p); err == nil && len(entries) > 0 {
			t.Errorf("LIST %s listed %d entries, e.g. %q", p, len(entries), entries[0].Name)
		}
	}
	if err := c.Stor("up/planted.txt", strings.NewReader("x")); err == nil {
		t.Error("STOR through a link out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.txt")); !os.IsNotExist(err) {
		t.Errorf("a file appeared outside the root: %v", err)
	}
	if err := c.Stor("sub/dir-link/uploaded.txt", strings.NewReader("up")); err != nil {
		t.Errorf("STOR through a link inside the root: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "uploaded.txt")); err != nil || string(b) != "up" {
		t.Errorf("uploaded through sub/dir-link: %q, %v", b, err)
	}
}
