package admin_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// slotServer serves GET /v1/stats (operator) and GET
// /v1/tenants/{tenant}/ping (tenant acme) with MaxConns slots on a
// loopback listener, and returns its address.
func slotServer(t *testing.T, maxConns int) string {
	addr, _ := slotServerUploads(t, maxConns)
	return addr
}

// slotServerUploads is slotServer with POST /v1/tenants/{tenant}/upload,
// which reads its body to the end; it signals each upload it starts on
// the returned channel.
func slotServerUploads(t *testing.T, maxConns int) (string, <-chan struct{}) {
	uploading := make(chan struct{}, 100)
	t.Helper()
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken)}
	srv := &admin.Server{
		Tokens:   st,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxConns: maxConns,
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { admin.WriteJSON(w, 200, map[string]bool{"ok": true}) })
	srv.Handle("GET /v1/stats", admin.ScopeOperator, ok)
	srv.Handle("GET /v1/tenants/{tenant}/ping", admin.ScopeTenant, ok)
	srv.Handle("GET /v1/tree/{rest...}", admin.ScopeOperator, ok)
	srv.Handle("POST /v1/tenants/{tenant}/upload", admin.ScopeTenant, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case uploading <- struct{}{}:
		default:
		}
		_, _ = io.Copy(io.Discard, r.Body)
		admin.WriteJSON(w, 200, map[string]bool{"ok": true})
	}))
	return serveAddr(t, srv, true), uploading
}

// holdSlot opens a connection, sends req and reads one reply, whose
// status it returns; the connection stays open until the test ends.
func holdSlot(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reply to the attacker: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// operatorServed reports whether the operator gets an answer to GET
// /v1/stats within a generous bound (far below the server's idle and read
// timeouts, which are what frees slots otherwise).
func operatorServed(t *testing.T, addr string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+opToken)
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("the operator was not served while other callers held connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("operator: %d", resp.StatusCode)
	}
}

// TestAttackRefusedCallersHoldNoSlot: an anonymous client, refused with
// 401 (or 404), must not keep a connection slot: not by staying connected
// after the reply (keep-alive, held for IdleTimeout) and not by announcing
// a body it never sends (the server would wait ReadTimeout to discard
// it). With every slot held that way the operator must still be served.
func TestAttackRefusedCallersHoldNoSlot(t *testing.T) {
	t.Parallel()
	const slots = 3
	for _, c := range []struct{ name, req string }{
		{"keep-alive after 401", "GET /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"keep-alive after 404", "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"announced body after 401", "POST /v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxx"},
		{"announced body on an unknown path", "POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxx"},
		{"chunked body after 401", "GET /v1/tenants/acme/ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nxx"},
		{"announced body on an unclean path", "GET /v1/./stats HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxx"},
		{"announced body on a path without its slash", "GET /v1/tree HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxx"},
		{"announced body on OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr := slotServer(t, slots)
			for range slots {
				if code := holdSlot(t, addr, c.req); code != 401 && code != 404 && code != 405 && code != 307 {
					t.Fatalf("attacker got %d", code)
				}
			}
			operatorServed(t, addr)
		})
	}
}

// TestAttackQuietConnectionsAreShed: connections that hold a slot without
// a request in progress give it up to a newcomer when every slot is
// taken. Without that, a client that connects and sends nothing (or
// trickles a request line and never ends its headers) keeps a slot for
// ReadHeaderTimeout, and a backlog of such connections queued ahead of
// the operator's keeps the operator waiting for minutes; a tenant's
// keep-alive connections, each after a valid request, hold theirs for
// IdleTimeout.
func TestAttackQuietConnectionsAreShed(t *testing.T) {
	t.Parallel()
	const slots, backlog = 3, 40
	dial := func(t *testing.T, addr, send string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if send != "" {
			if _, err := io.WriteString(c, send); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("silent backlog", func(t *testing.T) {
		t.Parallel()
		addr := slotServer(t, slots)
		for range slots + backlog {
			dial(t, addr, "")
		}
		operatorServed(t, addr)
	})
	t.Run("unfinished headers backlog", func(t *testing.T) {
		t.Parallel()
		addr := slotServer(t, slots)
		for range slots + backlog {
			dial(t, addr, "GET /v1/stats HTTP/1.1\r\nHost: x\r\n")
		}
		operatorServed(t, addr)
	})
	t.Run("tenant keep-alive", func(t *testing.T) {
		t.Parallel()
		addr := slotServer(t, slots)
		for range slots {
			req := "GET /v1/tenants/acme/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + acmeToken + "\r\n\r\n"
			if code := holdSlot(t, addr, req); code != 200 {
				t.Fatalf("tenant: %d", code)
			}
		}
		operatorServed(t, addr)
	})
}

// TestAttackTenantCannotTakeEverySlot: a tenant token holder's uploads
// that trickle their bodies are served (so they hold their slots for up to
// ReadTimeout each), but one tenant holds only its share of the slots in
// requests at once; the rest are refused with 429 at once, and the
// operator is served.
func TestAttackTenantCannotTakeEverySlot(t *testing.T) {
	t.Parallel()
	const slots = 4
	addr, uploading := slotServerUploads(t, slots)
	req := "POST /v1/tenants/acme/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + acmeToken + "\r\nContent-Length: 1000\r\n\r\nx"
	served, refused := trickleSlots(t, addr, slots, req, uploading)
	t.Logf("tenant uploads in flight %d, refused %d", served, refused)
	operatorServed(t, addr)
}

// trickleSlots sends req (a request whose body is announced and never
// sent whole) on n connections to addr, one after the other, and counts
// how many reached their handler (a receive on started) and how many
// were refused with 429 at once; any other reply fails the test.
func trickleSlots(t *testing.T, addr string, n int, req string, started <-chan struct{}) (served, refused int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		replied := make(chan int, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				replied <- 0
				return
			}
			replied <- resp.StatusCode
		}()
		select {
		case <-started:
			served++
		case code := <-replied:
			if code != http.StatusTooManyRequests {
				t.Fatalf("trickled request: %d, want 429 or no reply yet", code)
			}
			refused++
		case <-time.After(20 * time.Second):
			t.Fatal("neither served nor refused")
		}
	}
	return served, refused
}
