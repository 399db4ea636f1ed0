package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/internal/logbuf"
)

// logBuffer is a concurrency-safe log destination.
type logBuffer = logbuf.Buffer

func testLogger(b *logBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSinkReopenAfterRename: logrotate renames the file and signals;
// after Reopen the lines go to a new file at the path (created 0600), the
// old one keeps what came before.
func TestSinkReopenAfterRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	s, err := OpenFile(path, SinkOptions{Name: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("one\n"))
	if err := s.Flush(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("two\n")) // still the renamed file: not reopened yet
	if err := s.Flush(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("three\n"))
	s.Close(ctx10(t))
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "one\ntwo\n" || string(cur) != "three\n" {
		t.Fatalf("old %q, new %q", old, cur)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode: %v, %v", fi.Mode(), err)
	}
	if s.Write([]byte("late\n")) {
		t.Fatal("a closed sink took a line")
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once
	mu      sync.Mutex
	got     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got.Write(p)
}

// TestSinkBlockedWriterDrops: with the writer stuck in a write, Write
// never waits: the queue takes its bound, the rest is dropped and
// counted, one warning is logged for the run of drops, and once the
// writer is released what was queued is written and the catch-up logged.
func TestSinkBlockedWriterDrops(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	w := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	s := NewStream(w, SinkOptions{Name: "audit", QueueLines: 4, Logger: testLogger(&logs)})
	s.Write([]byte("first\n"))
	<-w.entered // the writer holds "first" and is stuck
	queued := 0
	for range 100 {
		if s.Write([]byte("line\n")) {
			queued++
		}
	}
	if queued != 4 || s.Dropped() != 96 {
		t.Fatalf("queued %d, dropped %d; want 4 and 96", queued, s.Dropped())
	}
	if n := strings.Count(logs.String(), "events are dropped"); n != 1 {
		t.Fatalf("%d drop warnings:\n%s", n, logs.String())
	}
	close(w.release)
	if err := s.Flush(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx10(t))
	w.mu.Lock()
	got := w.got.String()
	w.mu.Unlock()
	if got != "first\n"+strings.Repeat("line\n", 4) {
		t.Fatalf("written %q", got)
	}
	if !strings.Contains(logs.String(), "caught up") || !strings.Contains(logs.String(), "dropped_total=96") {
		t.Fatalf("no catch-up line:\n%s", logs.String())
	}
}

// TestSinkQueueBytesBound: the byte bound drops a line the line bound
// would have taken.
func TestSinkQueueBytesBound(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	s := NewStream(w, SinkOptions{QueueLines: 100, QueueBytes: 10, Logger: slog.New(slog.DiscardHandler)})
	defer func() { close(w.release); s.Close(ctx10(t)) }()
	s.Write([]byte("x\n"))
	<-w.entered
	if !s.Write([]byte("12345678\n")) || s.Write([]byte("12\n")) || s.Dropped() != 1 {
		t.Fatalf("dropped %d", s.Dropped())
	}
}

// failingWriter fails until ok is set.
type failingWriter struct {
	mu sync.Mutex
	ok bool
	n  int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ok {
		return 0, errors.New("disk full")
	}
	w.n += len(p)
	return len(p), nil
}

// TestSinkWriteErrors: failed writes count their lines as dropped and are
// logged once until a write succeeds again.
func TestSinkWriteErrors(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	w := &failingWriter{}
	s := NewStream(w, SinkOptions{Logger: testLogger(&logs)})
	for range 3 {
		s.Write([]byte("a\n"))
		if err := s.Flush(ctx10(t)); err != nil {
			t.Fatal(err)
		}
	}
	w.mu.Lock()
	w.ok = true
	w.mu.Unlock()
	s.Write([]byte("b\n"))
	s.Close(ctx10(t))
	out := logs.String()
	if s.Dropped() != 3 || strings.Count(out, "cannot write") != 1 || !strings.Contains(out, "writing the log again") {
		t.Fatalf("dropped %d, logs:\n%s", s.Dropped(), out)
	}
}

// TestNewNamesTheKey: a log file that cannot be opened fails New with the
// key that names it, and leaves no sink running.
func TestNewNamesTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := New(Config{File: filepath.Join(dir, "ok.log"), Xferlog: filepath.Join(dir, "missing", "x.log")}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.HasPrefix(err.Error(), "audit.xferlog: ") {
		t.Fatalf("err %v", err)
	}
	if _, err := New(Config{Format: "xml"}, Options{}); err == nil || !strings.Contains(err.Error(), "want json or text") {
		t.Fatalf("format: %v", err)
	}
}

// recordingWriter keeps each Write's bytes apart, and blocks the first
// until release is closed.
type recordingWriter struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once
	mu      sync.Mutex
	writes  []string
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered); <-w.release })
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestSinkBatchesWhileWriting: Write copies the line (the caller may
// reuse its buffer at once, as the logger's pooled buffer is), and the
// lines queued while a write is under way go out together in the next
// single write, in their order.
func TestSinkBatchesWhileWriting(t *testing.T) {
	t.Parallel()
	w := &recordingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	s := NewStream(w, SinkOptions{Logger: slog.New(slog.DiscardHandler)})
	buf := []byte("first\n")
	s.Write(buf)
	<-w.entered // the writer is in its write of "first"
	copy(buf, "XXXXX\n")
	var want strings.Builder
	for i := range 10 {
		line := fmt.Appendf(buf[:0], "line %d\n", i)
		want.Write(line)
		if !s.Write(line) {
			t.Fatalf("line %d dropped", i)
		}
		copy(line, "garbage\n")
	}
	close(w.release)
	if err := s.Flush(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx10(t))
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.writes) != 2 || w.writes[0] != "first\n" || w.writes[1] != want.String() {
		t.Fatalf("writes %q", w.writes)
	}
}
