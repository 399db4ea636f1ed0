package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Integration tests of the command extensions: MODE Z with lftp, HASH,
// RANG, COMB, MFMT and SITE (SYMLINK refused: no symlink right) with Python's ftplib, SITE CHMOD with curl.

func TestIntegrationLftpModeZ(t *testing.T) {
	lftp := requireTool(t, "lftp")
	srv := startServer(t, "127.0.0.1", "--mode-z-level", "6", "--max-decompressed-upload", "-1")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 3<<20+11, "modez")
	modeZ := []string{"set ftp:use-mode-z true", "set ftp:mode-z-level 6"}

	t.Run("put-get", func(t *testing.T) {
		out := filepath.Join(local, "back.bin")
		lftpScript(t, lftp, srv, false, append(modeZ, "put "+src+" -o z.bin", "get z.bin -o "+out)...)
		sameFile(t, filepath.Join(srv.root, "z.bin"), sum)
		sameFile(t, out, sum)
		// lftp only compresses when the server offers MODE Z; the log
		// shows that it did.
		if !strings.Contains(srv.stderr.String(), "verb=MODE arg=Z") {
			t.Fatalf("lftp never sent MODE Z:\n%s", srv.stderr)
		}
	})

	t.Run("mirror", func(t *testing.T) {
		tree := filepath.Join(local, "tree")
		if err := os.MkdirAll(filepath.Join(tree, "a"), 0o755); err != nil {
			t.Fatal(err)
		}
		s1 := writeFile(t, filepath.Join(tree, "a", "one.bin"), 200_000, "one")
		s2 := writeFile(t, filepath.Join(tree, "two.txt"), 1234, "two")
		lftpScript(t, lftp, srv, false, append(modeZ, "mirror --reverse "+tree+" zmirror")...)
		sameFile(t, filepath.Join(srv.root, "zmirror", "a", "one.bin"), s1)
		sameFile(t, filepath.Join(srv.root, "zmirror", "two.txt"), s2)
		back := filepath.Join(local, "back-tree")
		lftpScript(t, lftp, srv, false, append(modeZ, "mirror zmirror "+back)...)
		sameFile(t, filepath.Join(back, "a", "one.bin"), s1)
		sameFile(t, filepath.Join(back, "two.txt"), s2)
	})
}

func TestIntegrationPythonExtensions(t *testing.T) {
	python := requireTool(t, "python3")
	script, err := filepath.Abs(filepath.Join("testdata", "ftplib_ext.py"))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1", "--enable-hash", "--enable-comb")
	host, port := srv.hostPort()
	out := runClient(t, python, script, host, port, itUser, itPassword)
	if !strings.Contains(out, "ok quit") {
		t.Fatalf("script did not finish:\n%s", out)
	}

	combined := filepath.Join(srv.root, "combined.txt")
	if b, err := os.ReadFile(combined); err != nil || string(b) != "first-second" {
		t.Fatalf("COMB result %q, %v", b, err)
	}
	for _, part := range []string{"part1", "part 2"} {
		if _, err := os.Stat(filepath.Join(srv.root, part)); !os.IsNotExist(err) {
			t.Fatalf("COMB left %s behind (%v)", part, err)
		}
	}
	fi, err := os.Stat(combined)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("SITE CHMOD: mode %v", fi.Mode().Perm())
	}
	if want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC); !fi.ModTime().Equal(want) {
		t.Fatalf("MFMT: modification time %v, want %v", fi.ModTime().UTC(), want)
	}
	if _, err := os.Lstat(filepath.Join(srv.root, "link.txt")); !os.IsNotExist(err) {
		t.Fatalf("SITE SYMLINK without the symlink right made a link (%v)", err)
	}
}

func TestIntegrationCurlSiteChmod(t *testing.T) {
	curl := requireTool(t, "curl")
	srv := startServer(t, "127.0.0.1")
	writeFile(t, filepath.Join(srv.root, "file"), 10, "chmod")
	runClient(t, curl, "-sS", "-u", itUser+":"+itPassword, "-Q", "SITE CHMOD 600 file", srv.url("ftp", "/"))
	fi, err := os.Stat(filepath.Join(srv.root, "file"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after SITE CHMOD 600", fi.Mode().Perm())
	}
}
