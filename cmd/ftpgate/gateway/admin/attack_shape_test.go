package admin_test

import (
	"bytes"
	"strings"
	"testing"
)

// TestAttackPolicyErrorsHaveCodes: the errors the policy routes answer
// themselves have the one error shape too, {"error", "code"}, as every
// other admin error: scripts switch on "code".
func TestAttackPolicyErrorsHaveCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	checkError(t, "GET without a policy", f.do("GET", "/v1/tenants/globex/policy", globexToken, nil), 404, "no_policy")
	checkError(t, "DELETE without a policy", f.do("DELETE", "/v1/tenants/globex/policy", globexToken, nil), 404, "no_policy")
	checkError(t, "dry run without a policy", f.do("POST", "/v1/tenants/globex/policy/check", globexToken, strings.NewReader(`{}`)), 404, "no_policy")
	checkError(t, "not a module", f.do("PUT", "/v1/tenants/acme/policy", acmeToken, strings.NewReader("not wasm")), 400, "invalid_module")
	checkError(t, "bad on_error", f.do("PUT", "/v1/tenants/acme/policy?on_error=maybe", acmeToken, strings.NewReader("x")), 400, "bad_request")
	checkError(t, "chunked oversized module", f.do("PUT", "/v1/tenants/acme/policy", acmeToken,
		struct{ *bytes.Reader }{bytes.NewReader(make([]byte, moduleLimit+10))}), 413, "body_too_large")
	f.installAcme()
	checkError(t, "dry run, bad JSON", f.do("POST", "/v1/tenants/acme/policy/check", acmeToken, strings.NewReader(`{"verb":`)), 400, "bad_request")
	// A chunked body past the dry run's bound: 413, as a Content-Length
	// past it gets from the server, not a JSON syntax error.
	big := `{"verb":"DELE","other_paths":["` + strings.Repeat("/a", 40<<10) + `"]}`
	checkError(t, "dry run, chunked oversized", f.do("POST", "/v1/tenants/acme/policy/check", acmeToken,
		struct{ *strings.Reader }{strings.NewReader(big)}), 413, "body_too_large")
	checkError(t, "dry run, bad path", f.do("POST", "/v1/tenants/acme/policy/check", acmeToken, strings.NewReader(`{"verb":"DELE","path":"x"}`)), 400, "bad_request")
}
