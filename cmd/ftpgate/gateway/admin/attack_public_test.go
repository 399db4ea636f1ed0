package admin_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// publicServer is slotServer with a public POST /login that reads its
// form, as the console's login form does, and signals each request it
// starts on the returned channel.
func publicServer(t *testing.T, maxConns int) (string, <-chan struct{}) {
	t.Helper()
	started := make(chan struct{}, 100)
	srv := &admin.Server{
		Tokens:   admin.NewStaticTokens(opToken),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxConns: maxConns,
	}
	srv.Handle("GET /v1/stats", admin.ScopeOperator, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		admin.WriteJSON(w, 200, map[string]bool{"ok": true})
	}))
	srv.Handle("POST /login", admin.ScopePublic, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		_ = r.ParseForm()
		admin.WriteJSON(w, 200, map[string]bool{"ok": true})
	}))
	return serveAddr(t, srv, true), started
}

// TestAttackPublicBodiesCannotTakeEverySlot: a public route (the
// console's login form) needs no token, so anyone who reaches the
// listener can send it a body slowly; its request is in progress, and so
// never shed, for up to ReadTimeout. Anonymous callers hold at most a
// tenant's share of the slots that way (the rest are refused with 429 at
// once), and the operator is served.
func TestAttackPublicBodiesCannotTakeEverySlot(t *testing.T) {
	t.Parallel()
	const slots = 4
	addr, started := publicServer(t, slots)
	req := "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nt"
	served, refused := trickleSlots(t, addr, slots, req, started)
	t.Logf("anonymous forms in flight %d, refused %d", served, refused)
	operatorServed(t, addr)
}
