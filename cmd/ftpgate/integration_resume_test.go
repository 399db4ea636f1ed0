package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// curl resumes an upload (SIZE, then APPE of the rest); the download
// direction is in integration_test.go.
func TestIntegrationCurlResumesAnUpload(t *testing.T) {
	curl := requireTool(t, "curl")
	srv := startServer(t, "127.0.0.1")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 3<<20+17, "resume-up")
	full, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(srv.root, "up.bin")
	if err := os.WriteFile(remote, full[:777777], 0o644); err != nil {
		t.Fatal(err)
	}
	out := runClient(t, curl, "-sS", "-v", "-u", itUser+":"+itPassword, "-C", "-", "-T", src, srv.url("ftp", "up.bin"))
	sameFile(t, remote, sum)
	if !strings.Contains(out, "APPE up.bin") {
		t.Fatalf("curl did not resume with APPE:\n%s", out)
	}
}
