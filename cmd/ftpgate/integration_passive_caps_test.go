package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIntegrationPassivePortCaps: on `ftpgate serve --config` with a
// passive range of 8 ports and the default limits, one tenant's user
// repeating EPSV over many sessions is refused with a clear 425 once she
// holds her share (2 of 8), and a user of another tenant still gets
// ports and transfers with curl.
func TestIntegrationPassivePortCaps(t *testing.T) {
	curl := requireTool(t, "curl")
	lo, hi := freePortRange(t, 8)
	s := startTenantServer(t, fmt.Sprintf("[passive]\nports = \"%d-%d\"\n", lo, hi))

	held, refusal := 0, ""
	for range 10 {
		c := dialFTP(t, s.addr)
		c.expect(331, "USER alice@acme")
		c.expect(230, "PASS acme-pw")
		if err := c.PrintfLine("EPSV"); err != nil {
			t.Fatal(err)
		}
		code, msg, _ := c.ReadResponse(0)
		if code == 229 {
			held++
			continue
		}
		if code != 425 {
			t.Fatalf("EPSV: %d %s", code, msg)
		}
		refusal = msg
		break
	}
	if held != 2 || !strings.Contains(refusal, "Too many passive ports held by this user") {
		t.Fatalf("alice@acme held %d ports, then %q; want 2, then the per-user refusal", held, refusal)
	}
	s.waitLog(t, `rule=passive_per_user`, 1)

	src := filepath.Join(t.TempDir(), "up.bin")
	sum := writeFile(t, src, 300<<10, "passive caps")
	auth := "alice@globex:globex-pw"
	runClient(t, curl, "-sS", "--max-time", "30", "-u", auth, "-T", src, "ftp://"+s.addr+"/up.bin")
	sameFile(t, filepath.Join(s.dir, "data/globex/up.bin"), sum)
	out := filepath.Join(t.TempDir(), "down.bin")
	runClient(t, curl, "-sS", "--max-time", "30", "-u", auth, "-o", out, "ftp://"+s.addr+"/up.bin")
	sameFile(t, out, sum)
	if _, err := os.Stat(filepath.Join(s.dir, "data/acme/up.bin")); err == nil {
		t.Fatal("globex's upload landed in acme")
	}
}
