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

// TestHashPasswordArgon2idBounds: parameters a tenant file would refuse
// make no hash; the hashes made at the bounds load.
func TestHashPasswordArgon2idBounds(t *testing.T) {
	ok := Argon2Params{Memory: 8, Time: 1, Threads: 1, KeyLen: 16, SaltLen: 8}
	h, err := HashPasswordArgon2id("pw", ok)
	if err != nil || checkPasswordHash(h) != nil || !verifyPassword(h, "pw") {
		t.Fatalf("at the bounds: %q, %v, check %v", h, err, checkPasswordHash(h))
	}
	for _, bad := range []Argon2Params{
		{Memory: 7, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: maxArgon2Memory + 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 0, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: maxArgon2Time + 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 0, KeyLen: 32, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 8, SaltLen: 16},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 4},
	} {
		if h, err := HashPasswordArgon2id("pw", bad); err == nil {
			t.Errorf("%+v: made %q", bad, h)
		}
	}
}
