package tenancy

import (
	"path/filepath"
	"testing"
)

// TestOneTenant: the tenant's storage is the directory made absolute on
// the os backend, its users log in with their passwords, and a user name
// a tenant file would refuse is refused.
func TestOneTenant(t *testing.T) {
	dir := t.TempDir()
	tc, err := OneTenant("--root", "default", dir, map[string]string{"bob": "pw-b", "alice": "pw-a"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.ID != "default" || tc.Storage.Backend != BackendOS || tc.Storage.Dir != dir || len(tc.Users) != 2 || tc.Users[0].Name != "alice" {
		t.Fatalf("tenant %+v, users %+v", tc, tc.Users)
	}
	for i, pw := range []string{"pw-a", "pw-b"} {
		if !verifyPassword(tc.Users[i].PasswordHash, pw) {
			t.Errorf("user %s: password does not verify", tc.Users[i].Name)
		}
	}
	if rel, err := OneTenant("x", "default", "rel", nil); err != nil || !filepath.IsAbs(rel.Storage.Dir) {
		t.Errorf("relative dir: %+v, %v", rel, err)
	}
	for _, bad := range []string{"a b", "", "a\tb"} {
		if _, err := OneTenant("x", "default", dir, map[string]string{bad: "pw"}); err == nil {
			t.Errorf("user %q accepted", bad)
		}
	}
}
