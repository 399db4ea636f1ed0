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

// heldLine is a line held while a transfer runs: a command line, or the
// place of a line that was too long, whose 500 must keep its turn too.
type heldLine struct {
	line    []byte
	tooLong bool
}

// holdLine decides whether a line read while a transfer (or a long job)
// runs, or while earlier lines wait, must wait its turn, and queues it if
// so. Replies then keep the order of the commands: the transfer's final
// reply first, then each held command's.
//
// With nothing queued, ABOR, STAT and QUIT run at once (RFC 959 4.1.3).
// Behind queued lines every line waits, so that a client reading replies
// in order is never confused; ABOR still stops the transfer at once (QUIT
// a HASH or COMB) and only its reply waits.
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
	// ABOR, and QUIT for a long command (handleQUIT), take effect at
	// once; only their replies wait.
	if err == nil && x != nil && (verb == "ABOR" || verb == "QUIT" && x == s.ext.job) {
		x.abort()
	}
	s.queued = append(s.queued, heldLine{line: bytes.Clone(line)})
	return true
}

// holdTooLong holds the place of an over-long line when its 500 would
// otherwise overtake earlier replies, and reports whether it did.
func (s *session) holdTooLong() bool {
	if len(s.queued) == 0 && !s.transferRunning() {
		return false
	}
	s.queued = append(s.queued, heldLine{tooLong: true})
	return true
}

// nextQueued returns the oldest held line once no transfer runs.
func (s *session) nextQueued() (heldLine, bool) {
	if len(s.queued) == 0 || s.transferRunning() {
		return heldLine{}, false
	}
	h := s.queued[0]
	s.queued[0] = heldLine{}
	s.queued = s.queued[1:]
	if len(s.queued) == 0 {
		s.queued = nil // let an idle session drop the backing array
	}
	return h, true
}

// runHeld runs a held line and reports whether the session goes on.
func (s *session) runHeld(h heldLine) bool {
	if h.tooLong {
		return s.lineTooLong()
	}
	return s.handleLine(h.line)
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
