package audit

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkEmitTransfer is the audit log's cost for one small-file
// transfer once the hook has its facts: the JSON line, the xferlog line
// and queuing both (the writers write to files in a temporary
// directory). bench's Features/SmallFiles/telemetry measures the whole.
func BenchmarkEmitTransfer(b *testing.B) {
	dir := b.TempDir()
	l, err := New(Config{File: filepath.Join(dir, "audit.log"), Xferlog: filepath.Join(dir, "xferlog")},
		Options{Logger: slog.New(slog.DiscardHandler), Location: time.UTC, QueueLines: 1 << 20, QueueBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		e := Event{Time: Time(now), Event: "transfer", Status: "ok", Tenant: "acme", User: "bob", Login: "bob@acme",
			Remote: "192.0.2.1:40000", Session: 1234, Verb: "STOR", Path: "/home/bob/small-17.bin", Direction: "upload",
			Bytes: 65536, DurationMS: 3, Code: 226, xferlog: true}
		l.emit(&e)
	}
	b.StopTimer()
	if err := l.audit.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if l.Dropped() != 0 {
		b.Fatalf("%d dropped", l.Dropped())
	}
}

// BenchmarkFormatTransfer builds a transfer's two lines, the JSON audit
// line and the xferlog line, without queueing them: what emit's
// formatting costs per transfer.
func BenchmarkFormatTransfer(b *testing.B) {
	e := Event{Time: Time(time.Now()), Event: "transfer", Status: "ok", Tenant: "acme", User: "bob", Login: "bob@acme",
		Remote: "192.0.2.1:40000", Session: 1234, Verb: "STOR", Path: "/home/bob/small-17.bin", Direction: "upload",
		Bytes: 65536, DurationMS: 3, Code: 226, xferlog: true}
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		loc = time.UTC
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
		buf = AppendXferlog(buf, &e, loc)
	}
}

// TestEmitAllocs: a transfer's two lines cost one allocation between
// them (the event id is the other), whatever their length.
func TestEmitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops buffers at random")
	}
	dir := t.TempDir()
	l, err := New(Config{File: filepath.Join(dir, "audit.log"), Xferlog: filepath.Join(dir, "xferlog")},
		Options{Logger: slog.New(slog.DiscardHandler), Location: time.UTC, QueueLines: 1 << 16, QueueBytes: 1 << 28})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	e := Event{Time: Time(time.Now()), Event: "transfer", Status: "ok", Tenant: "acme", User: "bob",
		Remote: "192.0.2.1:40000", Session: 1234, Verb: "STOR", Path: "/" + strings.Repeat("p", 900), Direction: "upload",
		Bytes: 65536, DurationMS: 3, Code: 226, xferlog: true}
	l.emit(&e)
	if n := testing.AllocsPerRun(200, func() { l.emit(&e) }); n > 2 {
		t.Fatalf("%v allocations per transfer event, want at most 2", n)
	}
	if err := l.audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 0 {
		t.Fatalf("%d dropped", l.Dropped())
	}
}
