package admin_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// TestReloadClient: admin.Reload returns the keys a restart applies, the
// server's reason for a refused reload, and refuses a tenant's token.
func TestReloadClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	client := &http.Client{Timeout: 30 * time.Second}
	keys, err := admin.Reload(ctx, client, f.url+"/", opToken)
	if err != nil || !slices.Equal(keys, []string{"listen"}) {
		t.Fatalf("Reload: %v %v", keys, err)
	}
	bad := errors.New("server.toml:3: listen.control: want HOST:PORT")
	f.reload.Store(&bad)
	if _, err := admin.Reload(ctx, client, f.url, opToken); err == nil || err.Error() != bad.Error() {
		t.Fatalf("refused reload: %v, want the server's reason", err)
	}
	if _, err := admin.Reload(ctx, client, f.url, acmeToken); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("reload with a tenant's token: %v", err)
	}
}

// TestOperatorToken: the file wins over $FTPGATE_ADMIN_TOKEN, its
// surrounding space is dropped, and a short token is refused.
func TestOperatorToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("  file-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FTPGATE_ADMIN_TOKEN", "env-token-0123456789")
	for _, c := range []struct{ file, want string }{{file, "file-token-0123456789"}, {"", "env-token-0123456789"}} {
		if got, err := admin.OperatorToken(c.file); err != nil || got != c.want {
			t.Errorf("OperatorToken(%q) = %q, %v; want %q", c.file, got, err, c.want)
		}
	}
	t.Setenv("FTPGATE_ADMIN_TOKEN", "short")
	if _, err := admin.OperatorToken(""); err == nil {
		t.Error("a 5-character token was taken")
	}
}
