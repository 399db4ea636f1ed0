package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// TestAttackConsoleLoginThrottled: wrong tokens from one address, some
// through the API's bearer header and the rest through the console's
// login form (unknown tokens and a tenant's token for another tenant
// alike), count together; past admin.DefaultMaxAuthFailures the login
// form answers 429 with Retry-After and no cookie even to the operator's
// right token, and so does the API; another address logs in and calls
// the API as before, and a console session opened from the refused
// address before the guesses keeps working.
func TestAttackConsoleLoginThrottled(t *testing.T) {
	f := start(t)
	const attacker, other = "127.0.0.21", "127.0.0.22"
	earlier := f.browserFrom(t, attacker)
	earlier.login("", opToken)

	b := f.browserFrom(t, attacker)
	for i := range admin.DefaultMaxAuthFailures {
		switch i % 3 {
		case 0:
			if code := f.api(t, "/v1/tenants/acme/sessions", "guess-"+strconv.Itoa(i), attacker); code != http.StatusUnauthorized {
				t.Fatalf("API guess %d: %d", i, code)
			}
		case 1:
			if r := b.post("/console/login", url.Values{"token": {"guess-" + strconv.Itoa(i)}}, nil); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("login guess %d: %d", i, r.StatusCode)
			}
		default:
			if r := b.post("/console/login", url.Values{"tenant": {"globex"}, "token": {acmeToken}}, nil); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("login %d with acme's token for globex: %d", i, r.StatusCode)
			}
		}
	}
	r := b.post("/console/login", url.Values{"token": {opToken}}, nil)
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); r.StatusCode != http.StatusTooManyRequests || err != nil || n < 1 || n > 60 ||
		len(r.Cookies()) != 0 || !strings.Contains(r.body, "Too many wrong tokens") {
		t.Fatalf("the operator's token after %d wrong ones: %d Retry-After %q cookies %v %.300q",
			admin.DefaultMaxAuthFailures, r.StatusCode, r.Header.Get("Retry-After"), r.Cookies(), r.body)
	}
	securityHeaders(t, "the refused login", r)
	if a := f.apiReply(t, "/v1/tenants/acme/sessions", acmeToken, attacker); a.StatusCode != http.StatusTooManyRequests || a.Header.Get("Retry-After") == "" {
		t.Fatalf("the API from the refused address, with acme's token: %d %q", a.StatusCode, a.body)
	}
	f.browserFrom(t, other).login("acme", acmeToken)
	if code := f.api(t, "/v1/tenants/acme/sessions", acmeToken, other); code != http.StatusOK {
		t.Fatalf("the API from another address: %d", code)
	}
	if r := earlier.get("/console/overview"); r.StatusCode != http.StatusOK {
		t.Fatalf("the session opened before the guesses: %d", r.StatusCode)
	}
}
