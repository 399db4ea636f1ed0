package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestValidate: the defaults pass; each bad value is reported on its key.
func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	on := Default()
	on.Redis = "127.0.0.1:6379"
	if err := on.Validate(); err != nil {
		t.Fatalf("redis set: %v", err)
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxPasswordFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key string
		set func(*Config)
	}{
		{"redis", func(c *Config) { c.Redis = "localhost" }},
		{"redis", func(c *Config) { c.Redis = ":6379" }},
		{"password_file", func(c *Config) { c.PasswordFile = filepath.Join(dir, "missing") }},
		{"password_file", func(c *Config) { c.PasswordFile = big }},
		{"tls_ca", func(c *Config) { c.TLSCA = filepath.Join(dir, "missing"); c.TLS = true }},
		{"prefix", func(c *Config) { c.Prefix = "" }},
		{"prefix", func(c *Config) { c.Prefix = "a b" }},
		{"instance_id", func(c *Config) { c.InstanceID = "a:b" }},
		{"deadline", func(c *Config) { c.Deadline = 0 }},
		{"lease", func(c *Config) { c.Lease = conf.Duration(time.Second) }},
		{"fanout", func(c *Config) { c.Fanout = conf.Duration(time.Minute) }},
		{"fail.bans", func(c *Config) { c.Fail.Bans = "maybe" }},
		{"fail.sessions", func(c *Config) { c.Fail.Sessions = "" }},
		{"fail.rates", func(c *Config) { c.Fail.Rates = "Open" }},
		{"fail.quota", func(c *Config) { c.Fail.Quota = "x" }},
		{"fail.policies", func(c *Config) { c.Fail.Policies = "x" }},
	} {
		c := Default()
		tc.set(&c)
		var errs conf.Errors
		if !errors.As(c.Validate(), &errs) || !slices.ContainsFunc(errs, func(e *conf.Error) bool { return e.Key == tc.key }) {
			t.Errorf("%s: Validate = %v, want an error on %s", tc.key, c.Validate(), tc.key)
		}
	}
}

// TestPasswordNeverInErrors: a password file's content is in no error.
func TestPasswordNeverInErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	secret := "s3cret-" + string(make([]byte, maxPasswordFile))
	if err := os.WriteFile(f, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readPassword(f)
	if err == nil || len(err.Error()) > 200 || slices.Contains([]byte(err.Error()), 0) {
		t.Fatalf("readPassword = %v", err)
	}
}
