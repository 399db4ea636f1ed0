package audit

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
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

// countingFile counts the writes to a file.
type countingFile struct {
	f      *os.File
	writes atomic.Int64
}

func (c *countingFile) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.f.Write(p)
}

// BenchmarkEmitTransferParallel is BenchmarkEmitTransfer from as many
// goroutines as GOMAXPROCS, as sessions report their transfers, with
// the whole process's CPU per event (cpu-ns/op: the sessions' share and
// the writers', wake-ups and write calls included; wall time per event
// says little on a shared machine) and the write calls per event
// (writes/op) to both logs' files.
func BenchmarkEmitTransferParallel(b *testing.B) {
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "logs"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := &countingFile{f: f}
	l, err := New(Config{File: "-", Xferlog: "-"},
		Options{Logger: slog.New(slog.DiscardHandler), Stderr: w, Location: time.Local, QueueLines: 1 << 20, QueueBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	now := time.Now()
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := Event{Time: Time(now), Event: "transfer", Status: "ok", Tenant: "acme", User: "bob", Login: "bob@acme",
				Remote: "192.0.2.1:40000", Session: 1234, Verb: "STOR", Path: "/home/bob/small-17.bin", Direction: "upload",
				Bytes: 65536, DurationMS: 3, Code: 226, xferlog: true}
			l.emit(&e)
		}
	})
	for _, s := range []*Sink{l.audit, l.xfer} {
		if err := s.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(w.writes.Load())/float64(b.N), "writes/op")
	if l.Dropped() != 0 {
		b.Fatalf("%d dropped", l.Dropped())
	}
}

// processCPU is the process's user and system CPU time so far, in
// nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
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

// TestEmitAllocs: a transfer's two lines cost no allocation (the sinks
// copy them from a pooled buffer into their queues), whatever their
// length; the event id is the one allocation.
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
	l.seq.Store(1 << 40) // ids of a long-running process: strconv's small-number strings would hide an allocation
	l.emit(&e)
	if n := testing.AllocsPerRun(200, func() { l.emit(&e) }); n > 1 {
		t.Fatalf("%v allocations per transfer event, want at most 1", n)
	}
	if err := l.audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 0 {
		t.Fatalf("%d dropped", l.Dropped())
	}
}
