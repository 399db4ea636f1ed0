package admin_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // may time out on connections the test left open
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), started
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
	served, refused := 0, 0
	for range slots {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		req := "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nt"
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
				t.Fatalf("trickled login form: %d, want 429 or no reply yet", code)
			}
			refused++
		case <-time.After(20 * time.Second):
			t.Fatal("neither served nor refused")
		}
	}
	t.Logf("anonymous forms in flight %d, refused %d", served, refused)
	operatorServed(t, addr)
}
