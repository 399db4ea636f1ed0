package tenancy

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestTenantTokenMatches: a tenant's admin token matches that tenant only;
// an unknown tenant, a tenant without a token and an empty token never
// match (each still runs a comparison, which no test can see).
func TestTenantTokenMatches(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("acme-admin-token"))
	f := writeConfig(t, map[string]string{
		"server.toml":         serverTOML(""),
		"tenants/acme.toml":   "admin_token_sha256 = \"" + hex.EncodeToString(sum[:]) + "\"\n" + acmeTOML(t, ""),
		"tenants/globex.toml": globexTOML(t, ""),
	})
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct {
		tenant, token string
		want          bool
	}{
		{"acme", "acme-admin-token", true},
		{"acme", "acme-admin-tokenX", false},
		{"acme", "", false},
		{"globex", "acme-admin-token", false},
		{"globex", "", false},
		{"nobody", "acme-admin-token", false},
		{"", "acme-admin-token", false},
	} {
		if got := d.TenantTokenMatches(c.tenant, c.token); got != c.want {
			t.Errorf("TenantTokenMatches(%q, %q) = %v, want %v", c.tenant, c.token, got, c.want)
		}
	}
}
