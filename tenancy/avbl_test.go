//go:build unix

package tenancy

import (
	"strconv"
	"strings"
	"testing"
)

// TestAVBLWithoutQuota: a tenant on disk without a quota answers AVBL with
// the space left on its filesystem (213 and a number), as `serve --root`
// does, instead of 550; a memory tenant without a quota still has no
// answer.
func TestAVBLWithoutQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": acmeTOML(t, ""),
		"tenants/mem.toml":  "id = \"mem\"\n[storage]\nbackend = \"memory\"\n[[users]]\nname = \"m\"\npassword = \"" + testHash(t, "mem-m") + "\"\n",
	})
	r := f.rawLoginAs("alice@acme", "acme-alice")
	code, msg := r.cmd("AVBL")
	if code != 213 {
		t.Fatalf("AVBL on disk without quota: %d %s, want 213", code, msg)
	}
	if n, err := strconv.ParseInt(strings.Fields(msg)[0], 10, 64); err != nil || n <= 0 {
		t.Fatalf("AVBL %q: want a byte count", msg)
	}
	if code, msg := r.cmd("AVBL missing-dir"); code != 550 {
		t.Fatalf("AVBL of a missing directory: %d %s, want 550", code, msg)
	}
	m := f.rawLoginAs("m@mem", "mem-m")
	if code, msg := m.cmd("AVBL"); code != 550 {
		t.Fatalf("AVBL in memory without quota: %d %s, want 550", code, msg)
	}
}
