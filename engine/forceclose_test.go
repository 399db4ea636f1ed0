package engine

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

// TestCloseWithReplyToBusySession: an operator's CloseWithReply sends its
// 421 to a client that reads its replies, as the client's last line,
// whatever the session is doing at that moment. Each round ends a
// session busy with NOOPs, one after another, so that ends land at every
// point of a command: when the reply lock was held (the reply being
// written, the loop about to read the next line, a Result's code noted)
// the 421 was skipped; when a NOOP was being run, its 200 could follow
// the 421. Either way the client read 200 and then the end; before the
// fix, a few rounds in 30 did, under -race.
func TestCloseWithReplyToBusySession(t *testing.T) {
	t.Parallel()
	// A result hook, as the gateway has: the session then notes each
	// command's code under the reply lock too.
	ts := newTestServer(t, func(_ *testDriver, srv *Server) {
		srv.ResultHooks = append(srv.ResultHooks, func(*Result) {})
	})
	const (
		rounds    = 30
		maxCmds   = 2000 // per round: the client stops by itself
		endAfter  = 20   // NOOPs answered before the session is ended
		roundTime = 20 * time.Second
	)
	type outcome struct {
		last string // the last line read
		err  error  // what ended the reading
	}
	for round := range rounds {
		c := ts.login(t)
		var rc ReplyCloser
		for _, si := range ts.srv.Sessions() {
			if si.Session.RemoteAddr().String() == c.conn.LocalAddr().String() {
				rc, _ = si.Session.(ReplyCloser)
			}
		}
		if rc == nil {
			t.Fatal("the client's session is not listed as a ReplyCloser")
		}
		busy := make(chan struct{}) // closed after endAfter replies
		done := make(chan outcome, 1)
		go func() {
			r := bufio.NewReader(c.conn)
			var o outcome
			for i := range maxCmds {
				if i == endAfter {
					close(busy)
				}
				_ = c.conn.SetDeadline(time.Now().Add(roundTime))
				_, _ = io.WriteString(c.conn, "NOOP\r\n") // fails once the session is gone: the read tells
				l, err := r.ReadString('\n')
				if err != nil {
					o.err = err
					break
				}
				o.last = l
			}
			done <- o
		}()
		select {
		case <-busy:
		case o := <-done:
			t.Fatalf("round %d: the session ended before it was ended: %q, %v", round, o.last, o.err)
		}
		if err := rc.CloseWithReply(421, "Ended by the operator."); err != nil {
			t.Fatal(err)
		}
		if o := <-done; o.last != "421 Ended by the operator.\r\n" {
			t.Fatalf("round %d: the client's last line is %q (then %v), want the 421", round, strings.TrimSpace(o.last), o.err)
		}
	}
}
