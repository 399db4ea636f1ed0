package tenancy

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
)

// TestTenantOfBeforeAndAfterLogin: a command hook learns the tenant from
// HOST before login, and from the login after it, and nothing from a
// session that named no tenant yet.
func TestTenantOfBeforeAndAfterLogin(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	var mu sync.Mutex
	seen := map[string]string{} // verb → tenant
	srv := &engine.Server{Driver: f.driver, Logger: slog.New(slog.DiscardHandler),
		CommandHooks: []engine.CommandHook{func(_ context.Context, cmd *engine.Command) error {
			mu.Lock()
			seen[cmd.Verb] = f.driver.TenantOf(cmd.Session)
			mu.Unlock()
			return nil
		}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.addr = ln.Addr().String()

	c := f.dialRaw()
	if code, _ := c.cmd("NOOP"); code != 200 {
		t.Fatalf("NOOP: %d", code)
	}
	if code, msg := c.cmd("HOST ftp.globex.test"); code != 220 {
		t.Fatalf("HOST: %d %s", code, msg)
	}
	if code, _ := c.cmd("USER alice"); code != 331 {
		t.Fatalf("USER: %d", code)
	}
	if code, _ := c.cmd("PASS globex-alice"); code != 230 {
		t.Fatalf("PASS: %d", code)
	}
	if code, _ := c.cmd("PWD"); code != 257 {
		t.Fatalf("PWD: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	for verb, want := range map[string]string{"NOOP": "", "USER": "globex", "PWD": "globex"} {
		if seen[verb] != want {
			t.Errorf("%s: tenant %q, want %q", verb, seen[verb], want)
		}
	}
}
