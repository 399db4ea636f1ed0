package audit

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// Queue bounds, per sink. A full queue drops the new line (counted in
// Dropped, logged once per run of drops) rather than wait: an event is
// never worth a client's transfer or command waiting for a disk.
const (
	// DefaultQueueLines is how many lines a sink holds for its writer.
	DefaultQueueLines = 4096
	// DefaultQueueBytes is how many bytes of lines a sink holds; with
	// every client-given field clipped to 1 KiB a line is a few KiB at
	// most, so this is what bounds memory when lines are large.
	DefaultQueueBytes = 4 << 20
	// maxBatch is how many bytes the writer gathers into one write.
	maxBatch = 64 << 10
)

// SinkOptions are a sink's bounds and logger; zero values take the
// defaults.
type SinkOptions struct {
	// Name names the sink in log lines ("audit", "xferlog").
	Name string
	// QueueLines and QueueBytes bound the queue.
	QueueLines int
	QueueBytes int64
	// Logger receives the sink's own troubles (drops, write errors,
	// reopen failures); slog.Default() when nil.
	Logger *slog.Logger
}

// Sink writes lines to a file or a stream from a goroutine of its own,
// through a bounded queue, so that a slow or failing disk never blocks
// the session that reports an event: Write never waits. A file sink is
// opened for appending (created 0600: audit logs name users and paths)
// and can be reopened for log rotation.
type Sink struct {
	name string
	path string // "" for a stream
	log  *slog.Logger

	q        chan item
	maxBytes int64
	queued   atomic.Int64 // bytes in q
	dropped  atomic.Uint64
	dropping atomic.Bool // a run of drops was logged and not yet its end

	swap     chan io.WriteCloser // a reopened file for the writer to take
	closed   atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	w io.Writer // the writer goroutine's only
	c io.Closer // w's closer, nil for a stream the caller owns
}

// OpenFile opens (creating it 0600 when missing) the file at path for
// appending and starts its writer.
func OpenFile(path string, o SinkOptions) (*Sink, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	s := newSink(o, f, f)
	s.path = path
	return s, nil
}

// NewStream starts a sink writing to w (os.Stderr, say), which the caller
// owns: Close does not close it, and Reopen does nothing.
func NewStream(w io.Writer, o SinkOptions) *Sink { return newSink(o, w, nil) }

func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// item is one queued line, or a Flush's mark (done not nil).
type item struct {
	line []byte
	done chan struct{}
}

func newSink(o SinkOptions, w io.Writer, c io.Closer) *Sink {
	if o.QueueLines <= 0 {
		o.QueueLines = DefaultQueueLines
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Sink{name: o.Name, log: o.Logger, q: make(chan item, o.QueueLines), maxBytes: o.QueueBytes,
		swap: make(chan io.WriteCloser, 1), stop: make(chan struct{}), done: make(chan struct{}), w: w, c: c}
	go s.run()
	return s
}

// Write queues one line (which must end in a newline) and reports
// whether it was queued: false when the queue is full or the sink is
// closed, and the line is dropped. It never blocks, and keeps line.
func (s *Sink) Write(line []byte) bool {
	n := int64(len(line))
	if s.queued.Add(n) > s.maxBytes {
		s.queued.Add(-n)
		s.drop()
		return false
	}
	closed := s.closed.Load()
	if !closed {
		select {
		case s.q <- item{line: line}:
			return true
		default:
		}
	}
	s.queued.Add(-n)
	if !closed {
		s.drop()
	}
	return false
}

// drop counts a dropped line and logs the start of a run of drops.
func (s *Sink) drop() {
	s.dropped.Add(1)
	if s.dropping.CompareAndSwap(false, true) {
		s.log.Warn("audit: the log's writer is behind and its queue is full; events are dropped until it catches up",
			"log", s.name, "queue_lines", cap(s.q), "queue_bytes", s.maxBytes)
	}
}

// Dropped returns how many lines were dropped since the sink started.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Reopen opens the sink's file again by its path, for log rotation: after
// a rename the lines go to a new file at the path. It opens the file in
// the caller's goroutine and hands it to the writer, so it never waits for
// a slow write; lines already queued go to the new file. A failure keeps
// the old file. A stream sink has nothing to reopen.
func (s *Sink) Reopen() error {
	if s.path == "" {
		return nil
	}
	f, err := openAppend(s.path)
	if err != nil {
		s.log.Error("audit: cannot reopen the log; writing on to the old file", "log", s.name, "file", s.path, "err", err)
		return err
	}
	for {
		select {
		case s.swap <- f:
			return nil
		case old := <-s.swap: // an earlier reopen not yet taken
			_ = old.Close()
		}
	}
}

// Flush waits until the lines queued before it are written (or failed),
// or ctx ends; it waits for room in a full queue.
func (s *Sink) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.q <- item{done: done}:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking lines, lets the writer write what is queued until
// ctx ends, and closes the file.
func (s *Sink) Close(ctx context.Context) {
	s.stopOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

// run is the writer goroutine.
func (s *Sink) run() {
	defer close(s.done)
	defer func() {
		s.takeSwap()
		if s.c != nil {
			_ = s.c.Close()
		}
	}()
	var failing bool
	batch := make([]byte, 0, maxBatch)
	var marks []chan struct{}
	for {
		var it item
		select {
		case f := <-s.swap:
			s.install(f)
			continue
		case it = <-s.q:
		case <-s.stop:
			// Write what is queued, then end.
			select {
			case it = <-s.q:
			default:
				return
			}
		}
		batch, marks = s.add(batch[:0], marks[:0], it)
		if len(s.q) == 0 {
			// Let the sessions that are running report their events
			// before this one goes out, so that they share its write
			// (and this goroutine is not woken for each of them).
			runtime.Gosched()
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case more := <-s.q:
				batch, marks = s.add(batch, marks, more)
			default:
				break gather
			}
		}
		if len(batch) > 0 {
			s.takeSwap()
			s.writeBatch(batch, &failing)
		}
		for _, m := range marks {
			close(m)
		}
		if cap(batch) > 4*maxBatch {
			batch = make([]byte, 0, maxBatch)
		}
		if len(s.q) == 0 && s.dropping.Load() {
			s.dropping.Store(false)
			s.log.Warn("audit: the log's writer caught up", "log", s.name, "dropped_total", s.dropped.Load())
		}
	}
}

// add adds an item to the batch: its line, or its Flush mark.
func (s *Sink) add(batch []byte, marks []chan struct{}, it item) ([]byte, []chan struct{}) {
	if it.done != nil {
		return batch, append(marks, it.done)
	}
	s.queued.Add(-int64(len(it.line)))
	return append(batch, it.line...), marks
}

// takeSwap installs a reopened file, if one waits.
func (s *Sink) takeSwap() {
	select {
	case f := <-s.swap:
		s.install(f)
	default:
	}
}

// install makes f the file written to and closes the old one.
func (s *Sink) install(f io.WriteCloser) {
	if s.c != nil {
		_ = s.c.Close()
	}
	s.w, s.c = f, f
}

// writeBatch writes b; a failure is logged once until a write succeeds
// again, and its lines count as dropped.
func (s *Sink) writeBatch(b []byte, failing *bool) {
	_, err := s.w.Write(b)
	switch {
	case err != nil && !*failing:
		*failing = true
		s.log.Error("audit: cannot write the log; its events are lost until a write succeeds", "log", s.name, "file", s.path, "err", err)
	case err == nil && *failing:
		*failing = false
		s.log.Warn("audit: writing the log again", "log", s.name, "file", s.path)
	}
	if err != nil {
		for _, c := range b {
			if c == '\n' {
				s.dropped.Add(1)
			}
		}
	}
}
