package audit

import (
	"context"
	"io"
	"log/slog"
	"math"
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
	// maxBatch is the size of the queue's chunks, and so of a write: the
	// writer writes each chunk in one write call.
	maxBatch = 64 << 10
	// maxFreeChunks is how many written chunks a sink keeps for reuse
	// (256 KiB); the chunks of a larger burst go to the collector.
	maxFreeChunks = 4
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
// the session that reports an event: Write never waits for the writer
// (it takes a mutex that is only ever held to copy a line in or to swap
// the queue out). A file sink is opened for appending (created 0600:
// audit logs name users and paths) and can be reopened for log rotation.
//
// The queue is a list of chunks of maxBatch bytes that Write copies
// lines into, with no allocation per line; the writer takes the whole
// list and writes each chunk in one write call, so the lines that arrive
// while a write is under way go out together in the next, and a line is
// never held back waiting for more: the writer only sleeps with the queue
// empty. Memory: the queue's chunks (QueueBytes, counting a chunk's tail
// that a line did not fit in, plus the last chunk's free room: at most
// QueueBytes + maxBatch), the chunks being written (as many again at
// most), and maxFreeChunks kept for reuse.
type Sink struct {
	name string
	path string // "" for a stream
	log  *slog.Logger

	maxLines int
	maxBytes int

	mu       sync.Mutex
	pending  [][]byte        // chunks of queued lines, oldest first; lines go into the last
	full     int             // the capacity of pending's chunks but the last
	lines    int             // lines in pending
	marks    []chan struct{} // Flushes waiting for pending to be written
	spare    [][]byte        // an empty list for pending, the writer's last
	free     [][]byte        // empty chunks for reuse, at most maxFreeChunks
	idle     bool            // the writer waits on wake with nothing to do
	closed   bool            // Close was called: no more lines
	dropping bool            // a run of drops was logged and not yet its end

	dropped atomic.Uint64
	wake    chan struct{}       // one token: lines (or a mark) for an idle writer
	swap    chan io.WriteCloser // a reopened file for the writer to take
	stop    chan struct{}
	done    chan struct{}

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
	s := &Sink{name: o.Name, log: o.Logger, maxLines: o.QueueLines, maxBytes: int(min(o.QueueBytes, math.MaxInt)),
		idle: true, wake: make(chan struct{}, 1), swap: make(chan io.WriteCloser, 1), stop: make(chan struct{}),
		done: make(chan struct{}), w: w, c: c}
	go s.run()
	return s
}

// Write queues a copy of one line (which must end in a newline) and
// reports whether it was queued: false when the queue is full or the
// sink is closed, and the line is dropped. It never waits for the
// writer; the caller keeps line.
func (s *Sink) Write(line []byte) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	last := len(s.pending) - 1
	used, room := s.full, 0 // the queue's bytes (chunk tails counted) and the last chunk's free room
	if last >= 0 {
		used += len(s.pending[last])
		room = cap(s.pending[last]) - len(s.pending[last])
	}
	if len(line) > room && last >= 0 {
		used += room // the tail left unused when a new chunk starts
	}
	if s.lines >= s.maxLines || used+len(line) > s.maxBytes {
		logIt := !s.dropping
		s.dropping = true
		s.mu.Unlock()
		s.drop(logIt)
		return false
	}
	if len(line) > room {
		if last >= 0 {
			s.full += cap(s.pending[last])
		}
		s.pending = append(s.pending, s.chunk(len(line)))
		last++
	}
	s.pending[last] = append(s.pending[last], line...)
	s.lines++
	s.wakeLocked()
	s.mu.Unlock()
	return true
}

// chunk returns an empty chunk for a line of n bytes: a free one, or a
// new one of maxBatch bytes (n bytes for a longer line). s.mu is held.
func (s *Sink) chunk(n int) []byte {
	if k := len(s.free); k > 0 && n <= maxBatch {
		c := s.free[k-1]
		s.free = s.free[:k-1]
		return c
	}
	return make([]byte, 0, max(n, maxBatch))
}

// wakeLocked hands the writer its one wake-up token when it is idle;
// a busy writer looks at the queue again after its write anyway, so
// sessions that queue while it writes cost it no wake-up. s.mu is held.
func (s *Sink) wakeLocked() {
	if s.idle {
		s.idle = false
		s.wake <- struct{}{} // never blocks: only an idle writer's token, and it takes it before going idle again
	}
}

// drop counts a dropped line and logs the start of a run of drops.
func (s *Sink) drop(logIt bool) {
	s.dropped.Add(1)
	if logIt {
		s.log.Warn("audit: the log's writer is behind and its queue is full; events are dropped until it catches up",
			"log", s.name, "queue_lines", s.maxLines, "queue_bytes", s.maxBytes)
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
// or ctx ends.
func (s *Sink) Flush(ctx context.Context) error {
	done := make(chan struct{})
	s.mu.Lock()
	if s.closed { // Close's writer writes what is queued, then ends
		s.mu.Unlock()
		done = s.done
	} else {
		s.marks = append(s.marks, done)
		s.wakeLocked()
		s.mu.Unlock()
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
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
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
	for {
		select {
		case f := <-s.swap:
			s.install(f)
			continue
		case <-s.wake:
			// Let the sessions that are running report their events
			// before the first one goes out, so that they share its
			// write (and this goroutine is not woken for each of them).
			runtime.Gosched()
		case <-s.stop:
			s.drain(&failing) // Close: write what is queued, then end
			return
		}
		s.drain(&failing)
	}
}

// drain writes the queue, one write per chunk, until it finds it empty
// and marks the writer idle.
func (s *Sink) drain(failing *bool) {
	for {
		s.mu.Lock()
		batch, marks := s.pending, s.marks
		caughtUp := s.dropping && len(batch) == 0
		if len(batch) == 0 && len(marks) == 0 {
			s.dropping = false
			s.idle = true
			s.mu.Unlock()
			if caughtUp {
				s.log.Warn("audit: the log's writer caught up", "log", s.name, "dropped_total", s.dropped.Load())
			}
			return
		}
		s.pending, s.full, s.lines, s.marks, s.spare = s.spare[:0], 0, 0, nil, nil
		s.mu.Unlock()
		for _, c := range batch {
			s.takeSwap()
			s.writeBatch(c, failing)
		}
		for _, m := range marks {
			close(m)
		}
		s.mu.Lock()
		for i, c := range batch {
			if len(s.free) < maxFreeChunks && cap(c) == maxBatch {
				s.free = append(s.free, c[:0])
			}
			batch[i] = nil
		}
		s.spare = batch[:0]
		s.mu.Unlock()
	}
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
