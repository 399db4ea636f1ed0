package engine

import (
	"context"
	"time"
)

// extState is a session's state for the command extensions: HASH and
// RANG (handle_hash.go), MODE Z (modez.go) and SITE IDLE (handle_site.go).
// Only the command loop writes it; the transfer goroutine reads the MODE Z
// fields of a transfer the loop started, which happens after the writes.
type extState struct {
	hashAlgo  HASHAlgo
	rangSet   bool  // a RANG is in effect for HASH
	rangStart int64 // first byte of the RANG range
	rangEnd   int64 // last byte of the RANG range, inclusive (draft-bryan-ftp-range)

	modeZ     bool // MODE Z is on
	zLevelSet bool // OPTS MODE Z LEVEL was sent
	zLevel    int  // the level it chose

	idle time.Duration // SITE IDLE's limit; 0 means the settings'

	job *transfer // the last long command started, for QUIT to tell it from a transfer
}

// resetExtensions forgets the extensions' state, for REIN.
func (s *session) resetExtensions() {
	s.ext = extState{}
}

// startJob runs a long command (HASH, the X digest commands, COMB) in its
// own goroutine as if it were a transfer, so that ABOR interrupts it, STAT
// reports its progress, and other commands wait for it: a client hashing a
// huge file cannot pin the command loop. run must send the command's reply
// unless ctx was cancelled; when ABOR cancelled it, run replies 426 before
// returning, so that ABOR's own reply comes second as for transfers.
func (s *session) startJob(verb, path string, run func(ctx context.Context, x *transfer)) {
	ctx, cancel := context.WithCancel(s.ctx)
	x := &transfer{
		verb:    verb,
		path:    path,
		started: time.Now(),
		done:    make(chan struct{}),
		cancel:  cancel,
		cmd:     s.cur,
	}
	s.cur = nil // the job gives the Result
	s.mu.Lock()
	s.xfer = x
	s.mu.Unlock()
	s.ext.job = x
	go func() {
		defer s.transferEnded(x)
		defer x.cancel()
		run(ctx, x)
	}()
}
