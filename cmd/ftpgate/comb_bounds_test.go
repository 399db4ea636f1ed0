package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeConfigCOMBBounds: in a tenant with a byte quota, a COMB that
// would pass it ends with 552 and leaves no target, a COMB of a file into
// itself through a link is refused with 550, the parts keep their bytes,
// and what the refused COMBs reserved is free again (python's ftplib).
func TestServeConfigCOMBBounds(t *testing.T) {
	python := requireTool(t, "python3")
	dir := t.TempDir()
	writeTenantConfig(t, dir, "[quota]\nbytes = 100000\n")
	ftpAddr, _ := startServeWithAdmin(t, "--config", filepath.Join(dir, "server.toml"), "--enable-comb")
	script, err := filepath.Abs(filepath.Join("testdata", "ftplib_comb_bounds.py"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ftpAddr)
	out := runClient(t, python, script, host, port, "alice@globex", "globex-pw")
	if !strings.Contains(out, "ok quit") {
		t.Fatalf("script did not finish:\n%s", out)
	}
	root := filepath.Join(dir, "data/globex")
	if _, err := os.Stat(filepath.Join(root, "big")); !os.IsNotExist(err) {
		t.Fatalf("the refused COMB left its target: %v", err)
	}
	for name, size := range map[string]int64{"p1": 30000, "p2": 30000, "p3": 30000} {
		if fi, err := os.Stat(filepath.Join(root, name)); err != nil || fi.Size() != size {
			t.Fatalf("%s: %v %v, want %d bytes", name, fi, err, size)
		}
	}
}
