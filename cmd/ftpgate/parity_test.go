package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// knownDifferences are the commands whose reply codes may differ
// between `serve` with flags and `serve --config` with the same settings,
// with the reason. None: flag mode serves its directory as a tenant
// through the gateway (gatewayConfig). Each entry is checked to still
// differ, so that a fixed one is removed from here.
var knownDifferences = map[string]string{}

// TestFlagsAndFileReplyAlike runs one command script against `serve`
// with flags and `serve --config` with the same settings, and compares
// the reply codes command by command.
func TestFlagsAndFileReplyAlike(t *testing.T) {
	flagRoot := t.TempDir()
	if err := os.WriteFile(filepath.Join(flagRoot, "a.txt"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := startServe(t, "--root", flagRoot, "--user", "u:pw", "--enable-hash", "--limit-login-delay", "0s")

	dir := t.TempDir()
	fileRoot := filepath.Join(dir, "data")
	for _, d := range []string{fileRoot, filepath.Join(dir, "tenants")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(fileRoot, "a.txt"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := "[listen]\ncontrol = \"127.0.0.1:0\"\n[log]\nlevel = \"error\"\n[commands]\nhash = true\n[timeouts]\nlogin_failure_delay = \"0s\"\n[tenants]\ndir = \"tenants\"\ndefault = \"default\"\n"
	tenant := fmt.Sprintf("id = \"default\"\n[storage]\nbackend = \"os\"\ndir = %q\n[[users]]\nname = \"u\"\npassword = %q\n", fileRoot, itHash(t, "pw"))
	if err := os.WriteFile(filepath.Join(dir, "server.toml"), []byte(server), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants", "default.toml"), []byte(tenant), 0o600); err != nil {
		t.Fatal(err)
	}
	file := startServeArgs(t, "--config", filepath.Join(dir, "server.toml"))

	script := []string{
		"USER u", "PASS wrong", "USER u", "PASS pw", "SYST", "TYPE I", "PWD", "MKD d", "CWD d", "CDUP", "RMD d",
		"SIZE a.txt", "SIZE missing", "MDTM a.txt", "MDTM missing", "HASH a.txt", "HASH missing", "AVBL", "AVBL missing",
		"RNFR missing", "RNFR a.txt", "RNTO b.txt", "DELE b.txt", "DELE missing", "SITE CHMOD 644 missing",
		"SITE SYMLINK a.txt l", "MKD .ftpgate-x", "CWD /../..", "PWD", "STAT", "NOOP",
	}
	codes := func(addr string) []int {
		c := dialFTP(t, addr)
		var out []int
		for _, line := range script {
			if err := c.PrintfLine("%s", line); err != nil {
				t.Fatal(err)
			}
			code, _, _ := c.ReadResponse(0)
			out = append(out, code)
		}
		return out
	}
	a, b := codes(flags.addr), codes(file.addr)
	var diffs []string
	for i, line := range script {
		_, known := knownDifferences[line]
		switch {
		case a[i] != b[i] && !known:
			diffs = append(diffs, fmt.Sprintf("%s: flags %d, file %d", line, a[i], b[i]))
		case a[i] == b[i] && known:
			diffs = append(diffs, fmt.Sprintf("%s: both %d now; remove it from knownDifferences", line, a[i]))
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("replies differ:\n%s", strings.Join(diffs, "\n"))
	}
}
