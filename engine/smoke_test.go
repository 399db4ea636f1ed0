package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/afero"
)

func TestSmokeUploadDownloadList(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t)
	content := bytes.Repeat([]byte("hello ftp\n"), 100000)
	c.stor("a.txt", content)
	got, err := afero.ReadFile(ts.driver.fs, "/a.txt")
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("stored %d bytes, err %v", len(got), err)
	}
	if back := c.retr("a.txt"); !bytes.Equal(back, content) {
		t.Fatalf("retr got %d bytes", len(back))
	}
	list := c.list("LIST")
	if !strings.Contains(list, "a.txt") || !strings.HasPrefix(list, "-rw") {
		t.Fatalf("LIST: %q", list)
	}
	mlsd := c.list("MLSD")
	if !strings.Contains(mlsd, "type=file;size=1000000;") {
		t.Fatalf("MLSD: %q", mlsd)
	}
	c.expect("MKD sub", 257)
	c.expect("CWD sub", 250)
	if text := c.expect("PWD", 257); text != `"/sub" is the current directory.` {
		t.Fatalf("PWD: %q", text)
	}
	c.expect("CDUP", 250)
	c.expect("SIZE a.txt", 213)
	c.expect("QUIT", 221)
}
