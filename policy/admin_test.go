package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

type adminFixture struct {
	t   *testing.T
	srv *httptest.Server
	rt  *Runtime
	dir string
}

func newAdminFixture(t *testing.T, dir string) *adminFixture {
	t.Helper()
	return newAdminFixtureConfig(t, dir, Config{MaxModuleSize: 64 << 10}, nil)
}

// newAdminFixtureConfig is newAdminFixture with a runtime configured by
// cfg; prepare, when set, runs on the runtime before the store restores.
func newAdminFixtureConfig(t *testing.T, dir string, cfg Config, prepare func(*Runtime)) *adminFixture {
	t.Helper()
	rt, _ := newTestRuntime(t, cfg)
	if prepare != nil {
		prepare(rt)
	}
	store := &Store{Dir: dir}
	store.Restore(context.Background(), rt).Wait(context.Background())
	h := &AdminHandler{Runtime: rt, Store: store}
	srv := httptest.NewServer(routesMux(h))
	t.Cleanup(srv.Close)
	return &adminFixture{t: t, srv: srv, rt: rt, dir: dir}
}

func (f *adminFixture) do(method, path, token string, body []byte) (int, string) {
	f.t.Helper()
	resp, b := f.doResp(method, path, token, body)
	return resp.StatusCode, b
}

// doResp is do that also returns the response (its body read and closed).
func (f *adminFixture) doResp(method, path, token string, body []byte) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAdminUploadCheckDelete(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t, t.TempDir())
	code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", testmod.Example())
	if code != 200 || !strings.Contains(body, `"subscriptions":["DELE","STOR"]`) {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if d := eval(f.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("not installed: %+v", d)
	}
	code, body = f.do("POST", "/v1/tenants/acme/policy/check", "acme-secret", []byte(`{"verb":"dele","path":"/a.txt","user":"alice"}`))
	if code != 200 || !strings.Contains(body, `"action":"deny","code":550,"message":"deletion is disabled by policy"`) {
		t.Fatalf("check: %d %s", code, body)
	}
	// The dry run does not count in the figures.
	if fg := f.rt.Figures("acme"); fg.Calls != 1 {
		t.Fatalf("figures after a dry run: %+v", fg)
	}
	code, body = f.do("GET", "/v1/tenants/acme/policy", "op-secret", nil)
	if code != 200 || !strings.Contains(body, `"on_error":"deny"`) {
		t.Fatalf("GET: %d %s", code, body)
	}
	code, body = f.do("GET", "/v1/tenants/acme/policy/stats", "acme-secret", nil)
	if code != 200 || !strings.Contains(body, `"denies":1`) {
		t.Fatalf("stats: %d %s", code, body)
	}
	if code, _ = f.do("DELETE", "/v1/tenants/acme/policy", "acme-secret", nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if code, _ = f.do("DELETE", "/v1/tenants/acme/policy", "acme-secret", nil); code != 404 {
		t.Fatalf("second DELETE: %d", code)
	}
	if d := eval(f.rt, "acme", "DELE", "/x"); d.Called {
		t.Fatalf("still installed: %+v", d)
	}
}

// TestAdminRoutes: every route states its scope and body bound, and a
// tenant id that could name a file outside the store is refused by the
// handler itself, whatever mounted it.
func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t, t.TempDir())
	h := &AdminHandler{Runtime: f.rt}
	var operatorOnly []string
	for _, r := range h.Routes() {
		if !r.Tenant {
			operatorOnly = append(operatorOnly, r.Pattern)
		} else if !strings.Contains(r.Pattern, "{tenant}") {
			t.Errorf("tenant route %q without {tenant}", r.Pattern)
		}
		if strings.HasPrefix(r.Pattern, "PUT ") && r.MaxBody != 64<<10 {
			t.Errorf("PUT bound %d, want the module limit", r.MaxBody)
		}
	}
	if len(operatorOnly) != 1 || operatorOnly[0] != "GET /v1/stats" {
		t.Errorf("operator-only routes: %v", operatorOnly)
	}
	// With a child compile, an upload's answer may come after the admin
	// server's default write timeout: the route states its own bound.
	child := Config{ChildCompile: true}.withDefaults()
	if got := child.uploadAnswerTime(); got < child.CompileTimeout*5 {
		t.Errorf("upload answer time %v: less than the queue's compiles (%v each)", got, child.CompileTimeout)
	}
	for _, p := range []string{"/v1/tenants/..%2Fetc/policy", "/v1/tenants/.hidden/policy"} {
		if code, body := f.do("PUT", p, "", testmod.Example()); code != 400 || !strings.Contains(body, `"error":"invalid tenant id"`) {
			t.Errorf("PUT %s: %d %s", p, code, body)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "tenants")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(f.dir, "tenants"))
		t.Fatalf("stored records: %v", entries)
	}
}

// TestAdminBadUploadKeepsOld: every bad module is a 400 with its reason,
// and the tenant's old policy keeps ruling.
func TestAdminBadUploadKeepsOld(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t, t.TempDir())
	if code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for _, c := range []struct {
		name string
		wasm []byte
		code int
		msg  string
	}{
		{"garbage", []byte("MZ\x90\x00garbage"), 400, "not a WebAssembly module"},
		{"forbidden import", testmod.Broken(testmod.ForbiddenImport), 400, "import env.system is not allowed"},
		{"missing export", testmod.Broken(testmod.NoCheck), 400, "missing required export ftpp_check"},
		{"oversized", testmod.Padded(64<<10 + 10), 413, "larger than the limit"},
		{"init fails", testmod.Broken(testmod.InitFails), 400, "ftpp_init"},
	} {
		code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", c.wasm)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
	if code, body := f.do("PUT", "/v1/tenants/acme/policy?on_error=maybe", "acme-secret", testmod.Example()); code != 400 {
		t.Errorf("bad on_error: %d %s", code, body)
	}
	if d := eval(f.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("old policy gone: %+v", d)
	}
}

// TestStoreSurvivesRestart: a new runtime restores what the store holds,
// settings included; a replaced module's file is collected.
func TestStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newAdminFixture(t, dir)
	f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", testmod.Trap())
	if code, body := f.do("PUT", "/v1/tenants/acme/policy?on_error=allow", "acme-secret", testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	f.do("PUT", "/v1/tenants/globex/policy?on_error=allow", "globex-secret", testmod.Trap())
	mods, _ := os.ReadDir(filepath.Join(dir, "modules"))
	if len(mods) != 2 {
		t.Fatalf("module files: %v (the replaced module should be gone)", mods)
	}
	g := newAdminFixture(t, dir)
	if d := eval(g.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("acme after restart: %+v", d)
	}
	if d := eval(g.rt, "globex", "DELE", "/x"); d.Action != Allow || d.Err == nil {
		t.Fatalf("globex's on_error=allow lost: %+v", d)
	}
	var info PolicyInfo
	_, body := g.do("GET", "/v1/tenants/acme/policy", "acme-secret", nil)
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.OnError != "allow" {
		t.Fatalf("GET after restart: %s", body)
	}
	// A corrupted module file is quarantined at restore, not fatal.
	mp := filepath.Join(dir, "modules", info.SHA256+".wasm")
	if err := os.WriteFile(mp, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newAdminFixture(t, dir)
	if d := eval(h.rt, "acme", "DELE", "/x"); d.Called || d.Code != 451 {
		t.Fatalf("corrupt module: %+v, want it quarantined and its commands refused", d)
	}
}

// routesMux serves h's routes alone, without the admin server's token
// checks (those are tested in cmd/ftpgate/gateway/admin): the tokens the
// tests send are ignored.
func routesMux(h *AdminHandler) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range h.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	return mux
}
