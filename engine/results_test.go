package engine

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// resultLog collects the Results a server gives, for the test to take in
// order.
type resultLog chan Result

func withResults(log resultLog) serverOption {
	return func(_ *testDriver, srv *Server) {
		srv.ResultHooks = append(srv.ResultHooks, func(r *Result) {
			c := *r
			c.Paths = append([]string(nil), r.Paths...)
			log <- c
		})
	}
}

// next returns the next Result; the hook runs after the client read the
// reply, so it is waited for (the bound is only a backstop).
func (l resultLog) next(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-l:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no Result within 10 s")
		return Result{}
	}
}

// expectResult takes the next Result and checks what the test cares
// about: verb, code, paths, and for transfers direction and bytes.
func (l resultLog) expect(t *testing.T, verb string, code int, paths []string) Result {
	t.Helper()
	r := l.next(t)
	if r.Verb != verb || r.Code != code || !reflect.DeepEqual(r.Paths, paths) {
		t.Fatalf("Result %s %d %q, want %s %d %q", r.Verb, r.Code, r.Paths, verb, code, paths)
	}
	if r.Session == nil || r.Start.IsZero() || r.Duration < 0 {
		t.Fatalf("Result %s lacks its session or times: %+v", verb, r)
	}
	return r
}

func TestResultsOfCommands(t *testing.T) {
	t.Parallel()
	log := make(resultLog, 64)
	ts := newTestServer(t, withResults(log), withHASH(), onServer(func(srv *Server) {
		srv.CommandHooks = append(srv.CommandHooks, func(_ context.Context, cmd *Command) error {
			if cmd.Verb == "MKD" {
				return Refuse(550, "No directories here.")
			}
			return nil
		})
	}))
	c := ts.dial(t)
	c.expect("USER test", 331)
	if r := log.expect(t, "USER", 331, nil); r.Arg != "test" {
		t.Fatalf("USER Arg %q", r.Arg)
	}
	c.expect("PASS test", 230)
	if r := log.expect(t, "PASS", 230, nil); r.Arg != "" {
		t.Fatalf("PASS Result carries the password: %q", r.Arg)
	}
	c.send("ACCT second-secret")
	_, _ = c.read()
	if r := log.next(t); r.Verb != "ACCT" || r.Arg != "" {
		t.Fatalf("ACCT Result %s carries its argument: %q", r.Verb, r.Arg)
	}

	c.stor("f.txt", []byte("hello"))
	log.expect(t, "EPSV", 229, nil)
	r := log.expect(t, "STOR", 226, []string{"/f.txt"})
	if !r.Transfer || r.Direction != Upload || r.Bytes != 5 {
		t.Fatalf("STOR Result: transfer %v %v %d bytes, want an upload of 5", r.Transfer, r.Direction, r.Bytes)
	}
	if got := c.retr("f.txt"); string(got) != "hello" {
		t.Fatalf("RETR got %q", got)
	}
	log.expect(t, "EPSV", 229, nil)
	if r := log.expect(t, "RETR", 226, []string{"/f.txt"}); r.Direction != Download || r.Bytes != 5 {
		t.Fatalf("RETR Result: %v %d bytes", r.Direction, r.Bytes)
	}
	c.expect("HASH f.txt", 213)
	if r := log.expect(t, "HASH", 213, []string{"/f.txt"}); r.Transfer {
		t.Fatal("HASH is a job, not a data transfer")
	}
	c.expect("MKD d", 550)
	log.expect(t, "MKD", 550, []string{"/d"})
	c.expect("DELE f.txt", 250)
	log.expect(t, "DELE", 250, []string{"/f.txt"})
	c.expect("RETR", 501)
	log.expect(t, "RETR", 501, nil)
	c.expect("X\x01Y", 501)
	log.expect(t, "", 501, nil)
	c.expect("QUIT", 221)
	log.expect(t, "QUIT", 221, nil)
}

// TestResultOfAbortedUpload: an upload ABOR cut gives 426 with the bytes
// it moved, and ABOR its own 226 after it, each with the right code even
// though the two replies come from two goroutines.
func TestResultOfAbortedUpload(t *testing.T) {
	t.Parallel()
	log := make(resultLog, 64)
	ts := newTestServer(t, withResults(log))
	c := ts.login(t)
	log.next(t) // USER
	log.next(t) // PASS
	data := c.epsv()
	log.next(t) // EPSV
	c.expect("STOR big.bin", 150)
	if _, err := data.Write([]byte(strings.Repeat("x", 1000))); err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, ts)
	c.send("ABOR")
	c.expectRead(426)
	c.expectRead(226)
	r := log.expect(t, "STOR", 426, []string{"/big.bin"})
	// ABOR may close the data connection before the server read all
	// that was sent.
	if !r.Transfer || r.Direction != Upload || r.Bytes < 0 || r.Bytes > 1000 {
		t.Fatalf("aborted STOR Result: transfer %v %v, %d bytes of 1000", r.Transfer, r.Direction, r.Bytes)
	}
	log.expect(t, "ABOR", 226, nil)
}

// waitTransfer waits until Sessions shows a running transfer. (Its bytes
// count a chunk at a time, 16 KiB to 16 MiB, so a few bytes may not show.)
func waitTransfer(t *testing.T, ts *testServer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, si := range ts.srv.Sessions() {
			if si.Transfer != nil {
				return
			}
		}
		time.Sleep(5 * time.Millisecond) // polling a snapshot, not synchronising
	}
	t.Fatal("no transfer within 10 s")
}

// TestSessionsSnapshotAndKick: Sessions lists every live session in ID
// order with its running transfer, and CloseWithReply ends one with a
// reply its client reads.
func TestSessionsSnapshotAndKick(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	before := time.Now().Add(-time.Second)
	idle := ts.login(t)
	busy := ts.login(t)
	data := busy.epsv()
	busy.expect("STOR up.bin", 150)
	waitTransfer(t, ts)

	infos := ts.srv.Sessions()
	if len(infos) != 2 {
		t.Fatalf("Sessions: %d, want 2", len(infos))
	}
	if infos[0].Session.ID() >= infos[1].Session.ID() {
		t.Fatalf("Sessions not in ID order: %d, %d", infos[0].Session.ID(), infos[1].Session.ID())
	}
	// Ids are a permutation of the order of arrival (sessionid.go): find
	// each client's session by its address.
	byAddr := map[string]SessionInfo{}
	for _, si := range infos {
		byAddr[si.Session.RemoteAddr().String()] = si
	}
	idleInfo, busyInfo := byAddr[idle.conn.LocalAddr().String()], byAddr[busy.conn.LocalAddr().String()]
	if idleInfo.Session == nil || busyInfo.Session == nil {
		t.Fatalf("Sessions does not show both clients: %+v", infos)
	}
	if idleInfo.Transfer != nil {
		t.Fatalf("the idle session shows a transfer: %+v", idleInfo.Transfer)
	}
	x := busyInfo.Transfer
	if x == nil || x.Verb != "STOR" || x.Path != "/up.bin" || x.Direction != Upload || x.Bytes != 0 {
		t.Fatalf("the busy session's transfer: %+v", x)
	}
	for _, si := range infos {
		if si.Since.Before(before) || si.Since.After(time.Now().Add(time.Second)) || si.Session.User() != "test" {
			t.Fatalf("session %d: since %v, user %q", si.Session.ID(), si.Since, si.Session.User())
		}
	}

	rc, ok := idleInfo.Session.(ReplyCloser)
	if !ok {
		t.Fatal("the session is not a ReplyCloser")
	}
	if err := rc.CloseWithReply(421, "Ended by the operator."); err != nil {
		t.Fatal(err)
	}
	if code, text := idle.read(); code != 421 || text != "Ended by the operator." {
		t.Fatalf("the kicked client read %d %q", code, text)
	}
	if _, err := data.Write(make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	busy.expectRead(226)
	if got, err := afero.ReadFile(ts.driver.fs, "/up.bin"); err != nil || len(got) != 300 {
		t.Fatalf("the busy session's upload: %d bytes, %v", len(got), err)
	}
}

// TestServerEndsLeaveResultCodesAlone: a reply the server sends on its own
// (an operator's CloseWithReply, Shutdown's 421) is no command's reply, so
// a command finishing at that moment keeps its own code in its Result.
func TestServerEndsLeaveResultCodesAlone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, end := range []func(s *session){
		func(s *session) { _ = s.CloseWithReply(421, "Ended by the operator.") },
		func(s *session) { s.shutdown() },
	} {
		c := ts.login(t)
		c.expect("NOOP", 200)
		var s *session
		for _, si := range ts.srv.Sessions() {
			ss := si.Session.(*session)
			ss.writeMu.Lock()
			if ss.lastCode == 200 && !ss.isClosed() {
				s = ss
			}
			ss.writeMu.Unlock()
		}
		if s == nil {
			t.Fatal("no session whose last reply was NOOP's 200")
		}
		end(s)
		if code, _ := c.read(); code != 421 {
			t.Fatalf("the client read %d, want the 421", code)
		}
		s.writeMu.Lock()
		got := s.lastCode
		s.writeMu.Unlock()
		if got != 200 {
			t.Fatalf("the server's own 421 became the code of the command running: %d", got)
		}
	}
}
