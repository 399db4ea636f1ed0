package engine

import (
	"slices"
	"time"
)

// Result is one command's outcome, given to each of Server.ResultHooks
// once the command's final reply has been written: for a transfer the
// 226, 426, 451 or 425 after its 150, for HASH and COMB the reply of
// their job. Commands refused by a CommandHook, by the login check (530)
// or as malformed (500, 501) have a Result too; a line that could not be
// parsed has an empty Verb.
type Result struct {
	// Session is the session the command arrived on.
	Session ClientContext
	// Verb is the command name in upper case, as received: any text a
	// client sent (at most a line's length), so map verbs outside a fixed
	// set before using one as a label.
	Verb string
	// Arg is the argument as received; "" for PASS and ACCT, never a
	// password.
	Arg string
	// Paths are the resolved paths the command acted on, after the
	// command hooks; nil for none.
	Paths []string
	// Code is the final reply's code.
	Code int
	// Start is when the command began to run; Duration runs from Start
	// to the final reply.
	Start    time.Time
	Duration time.Duration
	// Transfer reports a data transfer (RETR, STOR, APPE, STOU, LIST,
	// NLST, MLSD) that got as far as its 150 reply; Direction and Bytes,
	// the data bytes moved, are set only then.
	Transfer  bool
	Direction Direction
	Bytes     int64
	// ZeroCopy reports a transfer whose bytes the engine's copy moved by
	// sendfile (file to socket) or splice (socket to file) rather than
	// through a buffer: what a deployment's plugins keep or lose, for
	// tests and benchmarks to check.
	ZeroCopy bool
}

// ResultHook observes a Result. It runs on the session's goroutine (the
// command loop, or the transfer's) after the reply was written, so it
// must be quick and never block; it must not keep r, which the engine
// may reuse.
type ResultHook func(r *Result)

// SessionInfo is a snapshot of one live session, as Server.Sessions
// gives it.
type SessionInfo struct {
	// Session is the session: ID, RemoteAddr, User, LoggedIn,
	// GetLastCommand and the rest. It is also a ReplyCloser:
	// CloseWithReply(421, reason) ends it with a reason the client reads.
	Session ClientContext
	// Since is when the connection was accepted.
	Since time.Time
	// Transfer is the running transfer or job (HASH, COMB), or nil.
	Transfer *TransferInfo
}

// TransferInfo describes a running transfer or job.
type TransferInfo struct {
	// Verb is the command that started it.
	Verb string
	// Path is the file it reads or writes, as the session names it.
	Path string
	// Direction is Upload or Download (Download for a job).
	Direction Direction
	// Since is when it started.
	Since time.Time
	// Bytes is what it moved so far.
	Bytes int64
}

// Sessions returns a snapshot of the live sessions, in ID order. It
// holds the server's lock only to copy the set, so its cost to the
// sessions is one short lock each.
func (srv *Server) Sessions() []SessionInfo {
	srv.mu.Lock()
	all := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	slices.SortFunc(all, func(a, b *session) int { return int(int64(a.id) - int64(b.id)) })
	infos := make([]SessionInfo, len(all))
	for i, s := range all {
		infos[i] = SessionInfo{Session: s, Since: time.Unix(int64(s.since), 0)}
		if x := s.runningTransfer(); x != nil {
			infos[i].Transfer = &TransferInfo{Verb: x.verb, Path: x.path, Direction: x.dir, Since: x.started, Bytes: x.bytes.Load()}
		}
	}
	return infos
}

// replyCode is the code at the start of a formatted reply, 0 when b does
// not start with three digits.
func replyCode(b []byte) int16 {
	if len(b) < 3 {
		return 0
	}
	var c int16
	for _, d := range b[:3] {
		if d < '0' || d > '9' {
			return 0
		}
		c = c*10 + int16(d-'0')
	}
	return c
}

// handleLine runs one command line and reports whether the session goes
// on; with ResultHooks it also gives the command its Result, unless the
// command started a transfer or job, whose goroutine gives it
// (transferResult).
//
// The code is the last reply the session wrote once the handler returned.
// The command loop runs nothing else meanwhile, but a transfer's goroutine
// may write its final reply while the loop answers STAT beside it: STAT's
// Result may then carry that code. A transfer's and a job's own code never
// comes from there (finalReply), and ABOR and QUIT reply only after the
// transfer ended.
func (s *session) handleLine(raw []byte) bool {
	if len(s.srv.ResultHooks) == 0 {
		return s.runLine(raw)
	}
	start := time.Now()
	s.writeMu.Lock()
	s.lastCode = 0
	s.writeMu.Unlock()
	s.cur = &Command{start: start}
	goOn := s.runLine(raw)
	cmd := s.cur
	if cmd == nil { // a transfer or job took it
		return goOn
	}
	s.cur = nil
	s.writeMu.Lock()
	code := s.lastCode
	s.writeMu.Unlock()
	if code == 0 { // no reply: the session ended while the command waited
		return goOn
	}
	r := Result{Session: s, Verb: cmd.Verb, Arg: cmd.Arg, Paths: cmd.Paths, Code: int(code), Start: start, Duration: time.Since(start)}
	if secretArg(r.Verb) {
		r.Arg = ""
	}
	s.runResultHooks(&r)
	return goOn
}

// resultOfTooLong gives an over-long line's 500 its Result.
func (s *session) resultOfTooLong() {
	if len(s.srv.ResultHooks) > 0 {
		now := time.Now()
		s.runResultHooks(&Result{Session: s, Code: 500, Start: now})
	}
}

// transferResult gives a transfer or job its Result, after its final
// reply and before the command loop may go on.
func (s *session) transferResult(x *transfer) {
	if x.cmd == nil || x.code == 0 {
		return
	}
	r := Result{
		Session: s, Verb: x.cmd.Verb, Arg: x.cmd.Arg, Paths: x.cmd.Paths,
		Code: x.code, Start: x.cmd.start, Duration: time.Since(x.cmd.start),
	}
	if x.data {
		r.Transfer, r.Direction, r.Bytes, r.ZeroCopy = true, x.dir, x.bytes.Load(), x.zeroCopy.Load()
	}
	s.runResultHooks(&r)
}

func (s *session) runResultHooks(r *Result) {
	for _, hook := range s.srv.ResultHooks {
		hook(r)
	}
}
