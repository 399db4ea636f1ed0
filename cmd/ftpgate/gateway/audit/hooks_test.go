package audit

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// memDriver serves one memory filesystem to user "u" with password "pw".
type memDriver struct{ fs afero.Fs }

func (d *memDriver) GetSettings() (*engine.Settings, error) {
	return &engine.Settings{ListenAddr: "127.0.0.1:0"}, nil
}
func (d *memDriver) ClientConnected(engine.ClientContext) (string, error) { return "hi", nil }
func (d *memDriver) ClientDisconnected(engine.ClientContext)              {}
func (d *memDriver) GetTLSConfig() (*tls.Config, error)                   { return nil, nil }
func (d *memDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == "u" && pass == "pw" {
		return d.fs, nil
	}
	return nil, errors.New("bad login")
}

// TestBlockedWriterNeverDelaysTransfers: with the audit log's writer
// stuck in a write for the whole test, every upload still gets its 226
// (the client would time out otherwise), the events past the queue's
// bound (2 lines) are dropped and counted, and once the writer is
// released what was queued is written.
func TestBlockedWriterNeverDelaysTransfers(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	var logs logBuffer
	l, err := New(Config{File: "-"}, Options{Stderr: w, QueueLines: 2, Logger: testLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &engine.Server{Driver: &memDriver{fs: afero.NewMemMapFs()}, Logger: slog.New(slog.DiscardHandler)}
	l.Install(srv)
	ts := enginetest.Start(t, srv)
	c := enginetest.Login(t, ts.Addr, "127.0.0.1", "u", "pw") // the login event: the writer takes it and blocks
	<-w.entered
	const uploads = 10
	for i := range uploads {
		if err := c.Stor(fmt.Sprintf("f%d.txt", i), strings.NewReader("data")); err != nil {
			t.Fatalf("upload %d with the writer blocked: %v", i, err)
		}
	}
	if err := c.NoOp(); err != nil { // the last upload's result hook ran
		t.Fatal(err)
	}
	if d := l.Dropped(); d != uploads-2 {
		t.Fatalf("dropped %d, want %d", d, uploads-2)
	}
	if !strings.Contains(logs.String(), "events are dropped") {
		t.Fatalf("no drop warning:\n%s", logs.String())
	}
	close(w.release)
	if err := l.audit.Flush(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	got := w.got.String()
	w.mu.Unlock()
	if n := strings.Count(got, "\n"); n != 3 || !strings.Contains(got, `"event":"login"`) || strings.Count(got, `"verb":"STOR"`) != 2 {
		t.Fatalf("written:\n%s", got)
	}
	l.Close(ctx10(t))
}
