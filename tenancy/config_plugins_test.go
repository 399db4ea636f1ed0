package tenancy

import (
	"github.com/ftpgate/ftpgate/engine/conf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/ratelimit"
)

// TestLimitsFromServerAndTenantFiles: [limits] of the server file and the
// limits of tenants and users reach ratelimit under the keys the limiter
// looks up with tenancy.Identity.
func TestLimitsFromServerAndTenantFiles(t *testing.T) {
	t.Parallel()
	hash, err := HashPasswordBcrypt("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server.toml", `[tenants]
dir = "t"
[limits]
conn_per_ip = 7
[limits.user]
download_rate = 1000
`)
	write("t/acme.toml", `id = "acme"
[storage]
backend = "memory"
[limits]
upload_rate = 5000
[[users]]
name = "alice"
password = "`+hash+`"
[users.limits]
download_rate = 2000
max_sessions = 2
[[users]]
name = "bob"
password = "`+hash+`"
`)
	cfg, err := LoadConfig(filepath.Join(dir, "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.RateLimits()
	if rl.MaxConnsPerIP != 7 || rl.User.DownloadRate != 1000 {
		t.Errorf("server limits: %+v", rl)
	}
	if got := rl.Tenants["acme"]; got != (ratelimit.Limits{UploadRate: 5000}) {
		t.Errorf("tenant acme limits: %+v", got)
	}
	if got := rl.Users["acme/alice"]; got != (ratelimit.Limits{DownloadRate: 2000, MaxSessions: 2}) {
		t.Errorf("user acme/alice limits: %+v", got)
	}
	if _, ok := rl.Users["acme/bob"]; ok {
		t.Error("bob has no limits of his own but got an override")
	}
	if err := rl.Validate(); err != nil {
		t.Errorf("the merged limits are refused: %v", err)
	}
}

// TestTenantFileTypeErrors: every value of the wrong type in a tenant
// file is reported with its line and key, in one run, and none of them
// gives a second error from the checks that follow (an id of the wrong
// type is not also "not a valid id").
func TestTenantFileTypeErrors(t *testing.T) {
	t.Parallel()
	var errs conf.Errors
	ParseTenantConfig("t.toml", []byte("id = 5\n[storage]\nbackend = \"memory\"\n[[users]]\nname = \"u\"\npassword = 7\nhomedir = \"/u\"\n"), &errs)
	want := "t.toml:1: id: want a string\nt.toml:6: users[0].password: want a string\nt.toml:7: users[0].homedir: unknown key (check its spelling and the table it is in)"
	if got := errs.Error(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestAdminTokenHashMustBeSHA256: a token hash that is not 64 hex digits
// is a config error naming the key.
func TestAdminTokenHashMustBeSHA256(t *testing.T) {
	t.Parallel()
	var errs conf.Errors
	ParseTenantConfig("t.toml", []byte("id = \"x\"\nadmin_token_sha256 = \"secret\"\n[storage]\nbackend = \"memory\"\n"), &errs)
	if got := errs.Error(); !strings.Contains(got, "t.toml:2: admin_token_sha256: want the 64 hex digits") {
		t.Fatalf("got %s", got)
	}
}
