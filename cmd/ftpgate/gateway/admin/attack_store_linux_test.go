package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestAttackDownloadHoldsNoStoreLock: a tenant's admin may download its
// module (GET .../policy, Accept: application/wasm) as often as it
// likes, and a module is up to MaxModuleSize; reading it must not hold
// the policy store's one lock, which every tenant's upload takes. The
// module file is a FIFO here, so that acme's download stays in its read
// for as long as the test wants: globex's upload meanwhile is served.
func TestAttackDownloadHoldsNoStoreLock(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	rt, err := policy.NewRuntime(ctx, policy.Config{MaxModuleSize: moduleLimit, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	dir := t.TempDir()
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken), "globex": admin.HashToken(globexToken)}
	srv := &admin.Server{Tokens: st, Logger: quiet, KnownTenant: func(id string) bool { return id == "acme" || id == "globex" }}
	mountPolicy(srv, &policy.AdminHandler{Runtime: rt, Store: &policy.Store{Dir: dir}, Logger: quiet})
	base := serveLoopback(t, srv)
	client := &http.Client{Timeout: 10 * time.Second}
	put := func(tenant, token string, wasm []byte) (int, error) {
		req, _ := http.NewRequest("PUT", base+"/v1/tenants/"+tenant+"/policy", bytes.NewReader(wasm))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	wasm := testmod.Example()
	if code, err := put("acme", acmeToken, wasm); code != 200 || err != nil {
		t.Fatalf("acme's upload: %d %v", code, err)
	}
	sum := sha256.Sum256(wasm)
	file := filepath.Join(dir, "modules", hex.EncodeToString(sum[:])+".wasm")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Fatal(err)
	}
	downloaded := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", base+"/v1/tenants/acme/policy", nil)
		req.Header.Set("Authorization", "Bearer "+acmeToken)
		req.Header.Set("Accept", "application/wasm")
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			downloaded <- 0
			return
		}
		resp.Body.Close()
		downloaded <- resp.StatusCode
	}()
	// Opening the FIFO for writing succeeds once the download opened it
	// for reading (before, ENXIO): the store is reading acme's module now.
	var w *os.File
	for deadline := time.Now().Add(10 * time.Second); w == nil; {
		w, err = os.OpenFile(file, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		switch {
		case err == nil:
		case errors.Is(err, syscall.ENXIO) && time.Now().Before(deadline):
			select {
			case code := <-downloaded:
				t.Fatalf("acme's download ended (%d) before reading its module", code)
			case <-time.After(5 * time.Millisecond):
			}
		default:
			t.Fatalf("the download never opened the module: %v", err)
		}
	}
	code, err := put("globex", globexToken, testmod.Respond(testmod.DenyResponse(550, "no"), "DELE"))
	_, _ = w.Write(wasm)
	_ = w.Close()
	if code != 200 || err != nil {
		t.Fatalf("globex's upload while acme's module is being read: %d %v", code, err)
	}
	if code := <-downloaded; code != 200 {
		t.Fatalf("acme's download: %d", code)
	}
}
