package tenancy

import (
	"github.com/ftpgate/ftpgate/engine/conf"
	"strings"
	"testing"
)

// FuzzParseTenantConfig: any bytes give a config or positioned errors,
// never a panic, and a config that passes is well formed.
func FuzzParseTenantConfig(f *testing.F) {
	f.Add([]byte(acmeTOML(f, "[quota]\nbytes = 10\n")))
	f.Add([]byte("id = \"x\"\n[[users]]\nname = \"a\"\n[[users.permissions]]\nprefix = \"/\"\nallow = [\"all\"]\n"))
	f.Add([]byte("[[users]]\n[[users]]\nname = \"\"\"\nx = 1\n\"\"\"\n"))
	f.Add([]byte("id = 'a\nb'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var errs conf.Errors
		cfg, ok := ParseTenantConfig("/t/x.toml", data, &errs)
		if ok != (len(errs) == 0) {
			t.Fatalf("ok %v with %d errors", ok, len(errs))
		}
		for _, e := range errs {
			if e.File != "/t/x.toml" || e.Line < 0 || e.Msg == "" {
				t.Fatalf("malformed error %+v", e)
			}
		}
		if !ok {
			return
		}
		if conf.ValidTenantID(cfg.ID) != nil {
			t.Fatalf("accepted id %q", cfg.ID)
		}
		for _, u := range cfg.Users {
			if !strings.HasPrefix(u.Home, "/") || checkPasswordHash(u.PasswordHash) != nil {
				t.Fatalf("accepted user %+v", u)
			}
		}
	})
}

// FuzzSplitLogin: the parts join back to the login, and a split never
// leaves an empty side or an '@' in the tenant.
func FuzzSplitLogin(f *testing.F) {
	for _, s := range []string{"alice", "alice@acme", "a@b@c", "@acme", "alice@", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, login string) {
		user, tenant, ok := SplitLogin(login)
		if !ok {
			if user != login || tenant != "" {
				t.Fatalf("no split but %q %q", user, tenant)
			}
			return
		}
		if user == "" || tenant == "" || strings.Contains(tenant, "@") || user+"@"+tenant != login {
			t.Fatalf("split %q into %q %q", login, user, tenant)
		}
	})
}

// FuzzVerifyPassword: a configured hash of any shape is checked without a
// panic and without accepting a password it does not hash.
func FuzzVerifyPassword(f *testing.F) {
	f.Add(testHash(f, "pw"), "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Add("$2b$04$abcdefghijklmnopqrstuuJ3z6ZcXP1Ez7Y3yP1Zs0FQ5v5pM3T5.", "x")
	f.Fuzz(func(t *testing.T, hash, pass string) {
		if checkPasswordHash(hash) != nil && verifyPassword(hash, pass) {
			t.Fatalf("a malformed hash accepted a password")
		}
	})
}
