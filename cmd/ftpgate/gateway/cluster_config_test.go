package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestParseCluster: [cluster] lands in Config.Cluster with its paths
// resolved against the server file, and its Validate errors carry the
// file, line and dotted key.
func TestParseCluster(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.toml")
	if err := os.Mkdir(filepath.Join(dir, "tenants"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "redis.pw"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "[tenants]\ndir = \"tenants\"\n[cluster]\nredis = \"127.0.0.1:6379\"\npassword_file = \"redis.pw\"\nlease = \"9s\"\n[cluster.fail]\nquota = \"open\"\n"
	cfg, err := Parse(file, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if c.Redis != "127.0.0.1:6379" || c.PasswordFile != filepath.Join(dir, "redis.pw") || time.Duration(c.Lease) != 9*time.Second ||
		c.Fail.Quota != "open" || c.Fail.Bans != "open" || c.Prefix != "ftpgate:" {
		t.Fatalf("cluster = %+v", c)
	}
	bad := "[tenants]\ndir = \"tenants\"\n[cluster]\nredis = \"nowhere\"\n[cluster.fail]\nbans = \"maybe\"\n"
	_, err = Parse(file, []byte(bad))
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	for _, want := range []string{`server.toml:4: cluster.redis: "nowhere": want HOST:PORT`, `server.toml:6: cluster.fail.bans: "maybe": want open or closed`} {
		if !strings.Contains(got, want) {
			t.Errorf("errors\n%s\nlack %s", got, want)
		}
	}
}
