package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestAdminRollback checks POST .../policy/rollback: it puts back the
// module the installed one replaced (its DELE refusal is back), a second
// rollback undoes the first, the previous module survives the store's
// clean-up and a restart, and a tenant with no previous module gets 404.
func TestAdminRollback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newAdminFixture(t, dir)
	if code, body := f.do("POST", "/v1/tenants/acme/policy/rollback", "acme-secret", nil); code != 404 || !strings.Contains(body, "no_previous") {
		t.Fatalf("rollback without a policy: %d %s", code, body)
	}
	if code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", testmod.Example()); code != 200 {
		t.Fatalf("PUT example: %d %s", code, body)
	}
	if code, body := f.do("POST", "/v1/tenants/acme/policy/rollback", "acme-secret", nil); code != 404 {
		t.Fatalf("rollback after one upload: %d %s", code, body)
	}
	if code, body := f.do("PUT", "/v1/tenants/acme/policy?on_error=allow", "acme-secret", testmod.ReturnPacked(0)); code != 200 {
		t.Fatalf("PUT allow-all: %d %s", code, body)
	}
	if d := eval(f.rt, "acme", "DELE", "/x"); d.Code != 0 {
		t.Fatalf("allow-all not installed: %+v", d)
	}
	code, body := f.do("POST", "/v1/tenants/acme/policy/rollback", "acme-secret", nil)
	if code != 200 || !strings.Contains(body, `"subscriptions":["DELE","STOR"]`) || !strings.Contains(body, `"on_error":"deny"`) {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if d := eval(f.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("after rollback DELE: %+v", d)
	}
	// The rolled-back module is the previous one now, kept on disk.
	f2 := newAdminFixture(t, dir)
	if d := eval(f2.rt, "acme", "DELE", "/x"); d.Code != 550 {
		t.Fatalf("restored after rollback: %+v", d)
	}
	if code, body := f2.do("POST", "/v1/tenants/acme/policy/rollback", "acme-secret", nil); code != 200 || !strings.Contains(body, `"on_error":"allow"`) {
		t.Fatalf("second rollback: %d %s", code, body)
	}
	if d := eval(f2.rt, "acme", "DELE", "/x"); d.Code != 0 {
		t.Fatalf("after second rollback DELE: %+v", d)
	}
}

// TestDryRunModule checks the console's check before an upload: the
// module is judged on the sample without being installed.
func TestDryRunModule(t *testing.T) {
	t.Parallel()
	rt, _ := newTestRuntime(t, Config{MaxModuleSize: 64 << 10})
	h := &AdminHandler{Runtime: rt}
	res, err := h.DryRunModule(context.Background(), "acme", testmod.Example(), OnErrorDeny, nil, CheckRequest{Verb: "DELE", Path: "/x"})
	if err != nil || res.Action != Deny || res.Code != 550 || !res.Subscribed {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if _, ok := h.Describe("acme"); ok {
		t.Fatal("the dry run installed the module")
	}
	if _, err := h.DryRunModule(context.Background(), "acme", []byte("not wasm"), OnErrorDeny, nil, CheckRequest{Verb: "DELE", Path: "/x"}); err == nil {
		t.Fatal("a broken module passed the dry run")
	}
}
