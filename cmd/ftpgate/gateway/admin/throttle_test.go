package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// clock is a settable time for the throttle's window.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// throttled serves GET /v1/tenants/{tenant}/whoami and the operator's
// POST /v1/reload on a loopback listener, with tenants acme and globex,
// a throttle of max failures per minute on clk and a table of clients
// addresses; logs go to logs when not nil.
func throttled(t *testing.T, max, clients int, clk *clock, logs io.Writer) (*admin.Server, string) {
	t.Helper()
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken), "globex": admin.HashToken(globexToken)}
	if logs == nil {
		logs = io.Discard
	}
	srv := &admin.Server{Tokens: st, KnownTenant: func(id string) bool { return id == "acme" || id == "globex" },
		Logger: slog.New(slog.NewTextHandler(logs, nil)), MaxAuthFailures: max, AuthFailureWindow: time.Minute,
		MaxAuthClients: clients, Now: clk.Now,
		Reload: func(context.Context) ([]string, error) { return nil, nil }}
	srv.Handle("GET /v1/tenants/{tenant}/whoami", admin.ScopeTenant, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	return srv, serveLoopback(t, srv)
}

// call sends method path with token ("": none) from the loopback address
// from and returns the status and the Retry-After header.
func call(t *testing.T, base, from, method, path, token string) (int, string) {
	t.Helper()
	d := &net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, path, from, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestAttackTokenGuessingThrottled: an address that presents max wrong
// tokens within the window (unknown tokens, another tenant's token on a
// tenant's path, a tenant's token on an operator route: all count
// alike) gets 429 with Retry-After on its next attempt, the right token
// included, for the window; another address is not affected; a missing
// token guesses nothing and is not counted; a valid token interleaved
// with the guesses does not clear the count (a tenant's admin cannot
// guess the operator's token at full speed by mixing in its own); after
// the window the address is served again.
func TestAttackTokenGuessingThrottled(t *testing.T) {
	const max = 5
	clk := &clock{now: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)}
	var logs syncWriter
	srv, base := throttled(t, max, 64, clk, &logs)
	const attacker, other = "127.0.0.5", "127.0.0.6"

	guesses := []struct{ method, path, token string }{
		{"POST", "/v1/reload", "guess-1"},
		{"GET", "/v1/tenants/globex/whoami", acmeToken},
		{"POST", "/v1/reload", acmeToken},
		{"GET", "/v1/tenants/acme/whoami", "guess-2"},
		{"GET", "/v1/tenants/nosuch/whoami", "guess-3"},
	}
	for range 20 {
		if code, _ := call(t, base, attacker, "POST", "/v1/reload", ""); code != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", code)
		}
	}
	for i, g := range guesses {
		if code, _ := call(t, base, attacker, g.method, g.path, g.token); code != http.StatusUnauthorized {
			t.Fatalf("guess %d (%s %s): %d, want 401", i+1, g.method, g.path, code)
		}
	}
	for _, c := range []struct{ method, path, token string }{
		{"POST", "/v1/reload", opToken}, {"GET", "/v1/tenants/acme/whoami", acmeToken}, {"GET", "/v1/tenants/acme/whoami", "guess-4"},
	} {
		code, retry := call(t, base, attacker, c.method, c.path, c.token)
		n, err := strconv.Atoi(retry)
		if code != http.StatusTooManyRequests || err != nil || n < 1 || n > 60 {
			t.Fatalf("after %d wrong tokens, %s %s: %d Retry-After %q; want 429 within the minute", max, c.method, c.path, code, retry)
		}
	}
	if code, _ := call(t, base, other, "POST", "/v1/reload", opToken); code != http.StatusOK {
		t.Fatalf("another address with the operator's token: %d", code)
	}
	if code, _ := call(t, base, other, "GET", "/v1/tenants/acme/whoami", acmeToken); code != http.StatusOK {
		t.Fatalf("another address with acme's token: %d", code)
	}
	if !strings.Contains(logs.String(), "client=127.0.0.5/32") {
		t.Errorf("no log line names the refused address:\n%s", logs.String())
	}

	clk.add(time.Minute)
	if code, _ := call(t, base, attacker, "POST", "/v1/reload", opToken); code != http.StatusOK {
		t.Fatalf("the attacker's address after the window, with the right token: %d", code)
	}

	// acme's admin mixes its valid token in with guesses at the
	// operator's: the valid calls succeed, and the guesses are still
	// refused after max of them.
	const mixer = "127.0.0.7"
	for i := range max {
		if code, _ := call(t, base, mixer, "GET", "/v1/tenants/acme/whoami", acmeToken); code != http.StatusOK {
			t.Fatalf("acme's own call %d: %d", i, code)
		}
		if code, _ := call(t, base, mixer, "POST", "/v1/reload", "guess-op-"+strconv.Itoa(i)); code != http.StatusUnauthorized {
			t.Fatalf("guess %d at the operator's token: %d", i, code)
		}
	}
	if code, _ := call(t, base, mixer, "POST", "/v1/reload", opToken); code != http.StatusTooManyRequests {
		t.Fatalf("after %d guesses mixed with valid calls: %d, want 429", max, code)
	}

	// A window that passes with fewer than max failures starts afresh.
	const slow = "127.0.0.8"
	for range 2 {
		for i := range max - 1 {
			if code, _ := call(t, base, slow, "POST", "/v1/reload", "slow-"+strconv.Itoa(i)); code != http.StatusUnauthorized {
				t.Fatalf("slow guess %d: %d", i, code)
			}
		}
		clk.add(time.Minute)
	}
	if code, _ := call(t, base, slow, "POST", "/v1/reload", opToken); code != http.StatusOK {
		t.Fatalf("after windows of %d failures each: %d", max-1, code)
	}
	if st := srv.AuthStats(); st.Throttled != 2 || st.Refused != 4 || st.Failed != int64(2*max+2*(max-1)) {
		t.Errorf("stats %+v", st)
	}
}

// TestAttackTokenGuessingManyAddresses: the throttle's table stays
// within MaxAuthClients however many addresses fail; failures of the
// addresses beyond it count together, so spreading guesses over more
// addresses than the table holds does not escape the limit: past max of
// them, a new address is refused (429) while an address in the table,
// under its own limit, is still served; after the window, everyone is.
func TestAttackTokenGuessingManyAddresses(t *testing.T) {
	const max, clients = 3, 32
	clk := &clock{now: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)}
	srv, base := throttled(t, max, clients, clk, nil)
	addr := func(i int) string { return "127.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(1+i%250) }
	for i := range clients + max - 1 {
		if code, _ := call(t, base, addr(i), "POST", "/v1/reload", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("address %d's guess: %d", i, code)
		}
		if n := srv.AuthStats().Clients; n > clients {
			t.Fatalf("%d addresses counted, over the bound of %d", n, clients)
		}
	}
	// The max-th failure beyond the table: every address outside it is
	// refused now.
	if code, _ := call(t, base, addr(clients+max), "POST", "/v1/reload", "guess"); code != http.StatusUnauthorized {
		t.Fatalf("the last overflow guess: %d", code)
	}
	if code, _ := call(t, base, addr(clients+max+1), "POST", "/v1/reload", opToken); code != http.StatusTooManyRequests {
		t.Fatalf("a new address once the overflow count is full: %d, want 429", code)
	}
	if code, _ := call(t, base, addr(0), "POST", "/v1/reload", opToken); code != http.StatusOK {
		t.Fatalf("an address in the table, under its limit: %d", code)
	}
	for i := range 200 {
		_, _ = call(t, base, addr(clients+max+2+i), "POST", "/v1/reload", "guess")
	}
	if n := srv.AuthStats().Clients; n > clients {
		t.Fatalf("%d addresses counted after 200 more, over the bound of %d", n, clients)
	}
	clk.add(time.Minute)
	if code, _ := call(t, base, addr(clients+max+1), "POST", "/v1/reload", opToken); code != http.StatusOK {
		t.Fatalf("a new address after the window: %d", code)
	}
	if code, _ := call(t, base, addr(999), "POST", "/v1/reload", "guess"); code != http.StatusUnauthorized || srv.AuthStats().Clients != 1 {
		t.Fatalf("after the window: %d, %d counted; want 401 and only the new address", code, srv.AuthStats().Clients)
	}
}

// syncWriter is a log sink a test reads while the server writes.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
