package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/afero"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestRestoreLazyQuarantine: a store holding a module that breaks the
// compile bounds (stored when they were looser) and a good one. Restore
// returns while the hostile compile is still held in flight; meanwhile
// the tenants' subscribed commands are refused with 451 through a real
// FTP client. The hostile module ends quarantined (logged with its
// tenant and hash, shown by GET, its commands still refused), the good
// one works, a later start does not compile the quarantined module again,
// and a new upload lifts the quarantine.
func TestRestoreLazyQuarantine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := &Store{Dir: dir}
	hostile := wasmgen.LiveAcrossBranches(1, 4096, 4000)
	if err := store.Save("t", hostile, Record{OnError: "allow", Subscriptions: []string{"MKD", "DELE"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Save("globex", testmod.Example(), Record{OnError: "deny", Subscriptions: []string{"DELE", "STOR"}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ChildCompile: true, CompileMemory: 64 << 20, MaxModuleSize: 1 << 20}
	rt, logs := newTestRuntime(t, cfg)
	started := make(chan string, 1)
	held, release := releaser()
	holdTenant("t", started, held)(rt)
	t.Cleanup(release)

	restoring := store.Restore(context.Background(), rt)
	<-started // the hostile module's compile is in flight, held
	select {
	case <-restoring.Done():
		t.Fatal("Restore finished while a compile was held")
	default:
	}
	c := login(t, serveWithPolicy(t, rt, afero.NewMemMapFs()))
	if code, msg := protoCode(c.MakeDir("/d")); code != 451 || !strings.Contains(msg, "being loaded") {
		t.Fatalf("MKD while restoring: %d %s", code, msg)
	}
	if st, ok := rt.Pending("t"); !ok || st.State != "restoring" {
		t.Fatalf("state while restoring: %+v %v", st, ok)
	}

	release()
	if n, q := restoring.Wait(context.Background()); n != 1 || q != 1 {
		t.Fatalf("restored %d, quarantined %d", n, q)
	}
	if code, msg := protoCode(c.MakeDir("/d")); code != 451 || !strings.Contains(msg, "unavailable") {
		t.Fatalf("MKD of a quarantined tenant: %d %s", code, msg)
	}
	if err := c.ChangeDir("/"); err != nil {
		t.Fatalf("CWD, which the policy does not judge: %v", err)
	}
	if d := eval(rt, "globex", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("globex after the restore: %+v", d)
	}
	hash := hashOf(hostile)
	if l := logs.String(); !strings.Contains(l, "stored policy quarantined") || !strings.Contains(l, "tenant=t") || !strings.Contains(l, hash) {
		t.Fatalf("no quarantine log line:\n%s", l)
	}

	srv := newAdminServer(t, &AdminHandler{Runtime: rt, Store: store})
	code, body := adminDo(t, srv, "GET", "/v1/tenants/t/policy", nil)
	var st struct {
		Tenant string `json:"tenant"`
		PolicyState
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.State != "quarantined" ||
		st.SHA256 != hash || !strings.Contains(st.Reason, "bound") {
		t.Fatalf("GET of a quarantined policy: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "quarantine", "t.json")); err != nil {
		t.Fatalf("quarantine mark: %v", err)
	}

	// A later start: the quarantined module is not compiled again.
	rt2, _ := newTestRuntime(t, cfg)
	var children atomic.Int32
	rt2.testChildStarted = func(tenant string) {
		if tenant == "t" {
			children.Add(1)
		}
	}
	if n, q := store.Restore(context.Background(), rt2).Wait(context.Background()); n != 1 || q != 1 || children.Load() != 0 {
		t.Fatalf("second start: restored %d, quarantined %d, compiled the quarantined module %d times", n, q, children.Load())
	}
	if d := eval(rt2, "t", "DELE", "/x"); d.Code != 451 {
		t.Fatalf("quarantined after a restart: %+v", d)
	}

	// A new upload lifts the quarantine.
	srv2 := newAdminServer(t, &AdminHandler{Runtime: rt2, Store: store})
	if code, body := adminDo(t, srv2, "PUT", "/v1/tenants/t/policy", testmod.Example()); code != 200 || !strings.Contains(body, `"state":"installed"`) {
		t.Fatalf("upload over a quarantined policy: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "quarantine", "t.json")); !os.IsNotExist(err) {
		t.Fatalf("quarantine mark after an upload: %v", err)
	}
	if d := eval(rt2, "t", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("after the upload: %+v", d)
	}

	// DELETE of a quarantined policy removes it and its mark.
	rt3, _ := newTestRuntime(t, cfg)
	if err := store.Save("t", hostile, Record{Subscriptions: []string{"DELE"}}); err != nil {
		t.Fatal(err)
	}
	if _, q := store.Restore(context.Background(), rt3).Wait(context.Background()); q != 1 {
		t.Fatalf("hostile module not quarantined again: %d", q)
	}
	srv3 := newAdminServer(t, &AdminHandler{Runtime: rt3, Store: store})
	if code, body := adminDo(t, srv3, "DELETE", "/v1/tenants/t/policy", nil); code != 204 {
		t.Fatalf("DELETE of a quarantined policy: %d %s", code, body)
	}
	if d := eval(rt3, "t", "DELE", "/x"); d.Action != Allow || d.Called {
		t.Fatalf("after DELETE: %+v", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "quarantine", "t.json")); !os.IsNotExist(err) {
		t.Fatalf("quarantine mark after DELETE: %v", err)
	}
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newAdminServer serves h; adminDo calls it with the operator token.
func newAdminServer(t *testing.T, h *AdminHandler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(routesMux(h))
	t.Cleanup(srv.Close)
	return srv
}

func adminDo(t *testing.T, srv *httptest.Server, method, path string, body []byte) (int, string) {
	t.Helper()
	f := &adminFixture{t: t, srv: srv}
	return f.do(method, path, "op-secret", body)
}
