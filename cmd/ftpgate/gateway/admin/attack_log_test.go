package admin_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAttackFailedHandshakesDoNotFloodTheLog: every anonymous connection
// to the HTTPS admin listener that fails its TLS handshake (any bytes
// that are not TLS, or a connection shed mid-handshake) made net/http log
// a WARN line, so a client could write the operator's log at the rate it
// connects. Those lines are debug; they are still there at debug level.
func TestAttackFailedHandshakesDoNotFloodTheLog(t *testing.T) {
	t.Parallel()
	cert, err := conf.SelfSigned(time.Now(), "ftpgate-admin-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var logged lockedBuffer
	srv := &admin.Server{Tokens: admin.NewStaticTokens(opToken),
		Logger:    slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	srv.Handle("GET /v1/x", admin.ScopeOperator, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	const tries = 5
	for range tries {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = c.Write([]byte("\x00\x01\x02\x03\x04\x05 not TLS at all\r\n\r\n"))
		_, _ = io.Copy(io.Discard, c) // the server closes after logging
		_ = c.Close()
	}
	out := logged.String()
	if n := strings.Count(out, "TLS handshake error"); n != tries {
		t.Errorf("%d handshake errors logged, want %d (at debug level):\n%s", n, tries, out)
	}
	if strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Errorf("an anonymous client's failed handshakes logged at warning level:\n%s", out)
	}
}
