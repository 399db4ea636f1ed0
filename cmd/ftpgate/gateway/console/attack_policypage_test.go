package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/console"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/internal/servetest"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// countingStore is a policy store that counts the reads of a previous
// module (Previous: the module's bytes, read and hashed whole).
type countingStore struct {
	*policy.Store
	previous atomic.Int64
}

func (s *countingStore) Previous(tenant string) ([]byte, policy.Record, error) {
	s.previous.Add(1)
	return s.Store.Previous(tenant)
}

// TestAttackConsolePolicyPageReadsNoModule: the policy page shows the
// module a rollback goes back to, on every view, and a tenant's admin
// may view it as often as it likes; the page reads that module's record
// only, not the module itself (up to MaxModuleSize, hashed whole under
// the store's one lock, which every tenant's uploads wait for).
func TestAttackConsolePolicyPageReadsNoModule(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	rt, err := policy.NewRuntime(ctx, policy.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	store := &countingStore{Store: &policy.Store{Dir: t.TempDir()}}
	h := &policy.AdminHandler{Runtime: rt, Store: store, Logger: quiet}
	first := testmod.Example()
	for _, wasm := range [][]byte{first, testmod.Respond(testmod.DenyResponse(550, "no"), "DELE")} {
		if _, err := h.Upload(ctx, "acme", wasm, policy.OnErrorDeny, nil); err != nil {
			t.Fatal(err)
		}
	}
	tokens := admin.NewStaticTokens(opToken)
	tokens.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken)}
	srv := &admin.Server{Tokens: tokens, Logger: quiet, KnownTenant: func(id string) bool { return id == "acme" }}
	console.Mount(srv, console.Options{Logger: quiet, Policy: h})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	servetest.Serve(t, func(context.Context) error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, srv.Shutdown)
	jar, _ := cookiejar.New(nil)
	c := fromClient("")
	c.Jar = jar
	b := &browser{t: t, base: "http://" + ln.Addr().String(), headers: http.Header{}, c: c}
	b.login("acme", acmeToken)
	sum := sha256.Sum256(first)
	for range 3 {
		if r := b.get("/console/t/acme/policy"); r.StatusCode != 200 || !strings.Contains(r.body, hex.EncodeToString(sum[:])) {
			t.Fatalf("policy page: %d, no previous module %x in %.300q", r.StatusCode, sum, r.body)
		}
	}
	if n := store.previous.Load(); n != 0 {
		t.Fatalf("3 views of the policy page read the previous module %d times", n)
	}
}
