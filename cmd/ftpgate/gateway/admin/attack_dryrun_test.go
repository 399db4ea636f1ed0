package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestAttackDryRunsShareThePoolBound: a tenant's dry runs run its module
// on the CPU like its live calls, so they share the bound PoolSize puts on
// the instances (hence cores) one tenant's policy keeps busy. Without it a
// tenant token holder starts as many spinning dry runs as it has
// connections, each one core for CallTimeout, and takes the cores that
// other tenants' live policy calls need. With PoolSize 1 and a module
// that spins for the whole deadline, of two dry runs at once one runs and
// the other is refused: at once with 429 by the one-dry-run-per-tenant
// bound (policy's ErrDryRunBusy, which came later and answers first), or
// as busy (503) by the pool once InitTimeout has passed.
func TestAttackDryRunsShareThePoolBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := policy.NewRuntime(ctx, policy.Config{PoolSize: 1, CallTimeout: 4 * time.Second, InitTimeout: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	m, err := rt.Compile(ctx, testmod.Loop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rt.Install("acme", m, policy.Settings{})
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken)}
	srv := &admin.Server{Tokens: st, Logger: quiet}
	mountPolicy(srv, &policy.AdminHandler{Runtime: rt, Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(ctx) })
	f := &fixture{t: t, url: "http://" + ln.Addr().String()}

	const runs = 2
	replies := make([]reply, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			replies[i] = f.do("POST", "/v1/tenants/acme/policy/check", acmeToken, strings.NewReader(`{"verb":"DELE","path":"/a"}`))
		})
	}
	wg.Wait()
	busy := 0
	for _, r := range replies {
		switch {
		case r.code == http.StatusServiceUnavailable:
			checkError(t, "dry run over the pool bound", r, 503, "busy")
			busy++
		case r.code == http.StatusTooManyRequests:
			checkError(t, "second dry run of the tenant", r, 429, "dry_run_in_progress")
			busy++
		case r.code == 200 && strings.Contains(r.body, "deadline"):
		default:
			t.Errorf("dry run: %d %s", r.code, r.body)
		}
	}
	if busy != 1 {
		t.Errorf("%d of %d simultaneous spinning dry runs refused as busy, want %d (PoolSize 1): %+v", busy, runs, runs-1, replies)
	}
}
