package engine

import (
	"bytes"
	"net"
	"time"
)

// maxQueuedLines bounds the command lines a session holds while a
// transfer runs. Past it the command loop stops reading until the
// transfer ends, so a client cannot make the server buffer without end.
const maxQueuedLines = 8

// holdLine decides whether a line read while a transfer (or a long job)
// runs, or while earlier lines wait, must wait its turn, and queues it if
// so. Replies then keep the order of the commands: the transfer's final
// reply first, then each held command's.
//
// With nothing queued, ABOR, STAT and QUIT run at once (RFC 959 4.1.3).
// Behind queued lines every line waits, so that a client reading replies
// in order is never confused; ABOR still stops the transfer at once and
// only its reply waits.
func (s *session) holdLine(line []byte) bool {
	x := s.runningTransfer()
	if x == nil && len(s.queued) == 0 {
		return false
	}
	// A copy: parseCommandLine strips Telnet bytes in place.
	verb, _, err := parseCommandLine(bytes.Clone(line))
	if len(s.queued) == 0 && err == nil {
		if spec := commands[verb]; spec != nil && spec.duringTransfer {
			return false
		}
	}
	if err == nil && verb == "ABOR" && x != nil {
		x.abort()
	}
	s.queued = append(s.queued, bytes.Clone(line))
	return true
}

// nextQueued returns the oldest held line once no transfer runs, or nil.
func (s *session) nextQueued() []byte {
	if len(s.queued) == 0 || s.transferRunning() {
		return nil
	}
	line := s.queued[0]
	s.queued[0] = nil
	s.queued = s.queued[1:]
	if len(s.queued) == 0 {
		s.queued = nil // let an idle session drop the backing array
	}
	return line
}

// queueWake returns what ends the wait for the next line early: the end
// of the running transfer when lines are held for it, nil otherwise.
// When the queue is full it waits for the transfer itself instead, and
// reports false if the session ended meanwhile.
func (s *session) queueWake() (<-chan struct{}, bool) {
	if len(s.queued) == 0 {
		return nil, true
	}
	x := s.runningTransfer()
	if x == nil {
		return nil, true
	}
	if len(s.queued) >= maxQueuedLines {
		select {
		case <-x.done:
			return nil, true
		case <-s.ctx.Done():
			return nil, false
		}
	}
	return x.done, true
}

// wakeRead makes a read on conn return a timeout once wake is closed.
// The returned stop must be called when the read is over; it waits for
// the watcher, so that a late wake cannot cut the next read short.
func wakeRead(conn net.Conn, wake <-chan struct{}) (stop func()) {
	if wake == nil {
		return func() {}
	}
	quit := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-wake:
			_ = conn.SetReadDeadline(time.Now())
		case <-quit:
		}
	}()
	return func() {
		close(quit)
		<-stopped
	}
}
