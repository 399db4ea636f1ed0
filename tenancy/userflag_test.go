package tenancy

import (
	"strings"
	"testing"
)

// TestUserFlag: NAME:PASSWORD pairs are collected (a password may hold
// colons), an empty part or a repeated name is refused, and the demo
// password is 20 characters of the alphabet without look-alikes.
func TestUserFlag(t *testing.T) {
	u := UserFlag{}
	for _, v := range []string{"alice:pw", "bob:a:b"} {
		if err := u.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if len(u) != 2 || u["alice"] != "pw" || u["bob"] != "a:b" || u.String() != "" {
		t.Fatalf("users: %v, String %q", map[string]string(u), u.String())
	}
	for v, want := range map[string]string{"alice:x": `user "alice" given twice`, "carol": "want NAME:PASSWORD", ":pw": "want NAME:PASSWORD", "dave:": "want NAME:PASSWORD"} {
		if err := u.Set(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set(%q) = %v, want %q", v, err, want)
		}
	}
	p := RandomPassword()
	if len(p) != 20 || strings.ContainsAny(p, "iloIO01") || p == RandomPassword() {
		t.Errorf("RandomPassword() = %q", p)
	}
}
