//go:build unix

package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// parkedSessions counts ts's sessions whose goroutine waits in idleWait,
// from a dump of every goroutine's stack: a parked session's goroutine
// has idleWait, with the session as its receiver, as its innermost engine
// frame (a resumed one runs the command loop above it).
func parkedSessions(ts *testServer) int {
	buf := make([]byte, 1<<20) // bounded: the dump is cut, not grown, past 1 MiB
	dump := string(buf[:runtime.Stack(buf, true)])
	waiting := map[string]bool{}
	for _, g := range strings.Split(dump, "\n\n") {
		i := strings.Index(g, "ftpgate/engine.")
		if i < 0 {
			continue
		}
		frame, _, _ := strings.Cut(g[i+len("ftpgate/engine."):], ",")
		if rest, ok := strings.CutPrefix(frame, "(*session).idleWait("); ok {
			waiting[strings.TrimSuffix(rest, "?")] = true
		}
	}
	n := 0
	for _, info := range ts.srv.Sessions() {
		if waiting[fmt.Sprintf("%p", info.Session)] {
			n++
		}
	}
	return n
}

// awaitParked waits until want of ts's sessions are parked, polling for
// at most waitTimeout (a session parks idleParkDelay after its last line).
func awaitParked(t testing.TB, ts *testServer, want int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for parkedSessions(ts) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions parked after %v", parkedSessions(ts), want, waitTimeout)
		}
		<-tick.C
	}
}

// expectNotParkedFor waits until none of ts's sessions is parked (the
// bytes just sent wake them), then fails if one parks within d.
func expectNotParkedFor(t testing.TB, ts *testServer, d time.Duration) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(waitTimeout)
	for parkedSessions(ts) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions still parked after %v", waitTimeout)
		}
		<-tick.C
	}
	end := time.After(d)
	for {
		if parkedSessions(ts) != 0 {
			t.Fatal("a session parked with half a line read")
		}
		select {
		case <-end:
			return
		case <-tick.C:
		}
	}
}

// A parked session answers its next command and transfers as before, then
// parks again; a line begun before the park delay is read on, not lost.
func TestParkedSessionResumes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	awaitParked(t, ts, 1)
	if dir := c.expect("PWD", 257); !strings.Contains(dir, `"/"`) {
		t.Fatalf("PWD after parking: %q", dir)
	}
	content := pattern(100 << 10)
	c.stor("after-park.bin", content)
	expectFile(t, ts.driver.fs, "/after-park.bin", content)

	awaitParked(t, ts, 1)
	ptWriteRaw(t, c, []byte("NO"))
	// The half line keeps the session in its read past the park delay
	// (and would be lost if it parked: the rest alone is no command).
	expectNotParkedFor(t, ts, idleParkDelay+500*time.Millisecond)
	ptWriteRaw(t, c, []byte("OP\r\n"))
	c.expectRead(200)
	awaitParked(t, ts, 1)
	c.expect("QUIT", 221)
	ptExpectClosed(t, c)
}

// A parked session's idle timeout still counts from its last line: the
// park delay is taken off what is left, and the client gets the 421.
func TestParkedSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.IdleTimeout = 2 }))
	c := ts.login(t)
	start := time.Now()
	awaitParked(t, ts, 1)
	if text := c.expectRead(421); !strings.Contains(text, "Idle") {
		t.Fatalf("idle reply %q", text)
	}
	if took := time.Since(start); took < 2*time.Second-100*time.Millisecond {
		t.Fatalf("closed as idle after %v, before the 2 s idle timeout", took)
	}
	ptExpectClosed(t, c)
	awaitSessionsEnded(t, ts, 1)
}

// awaitSessionsEnded waits until the driver saw n sessions end.
func awaitSessionsEnded(t testing.TB, ts *testServer, n int32) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ts.driver.disconnected.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions ended", ts.driver.disconnected.Load(), n)
		}
		<-tick.C
	}
	expectSessionsEnded(t, ts.driver, n)
}

// Shutdown and Close end parked sessions with a 421, and both return:
// closing the socket ends the parked goroutine's wait.
func TestParkedSessionsShutdownAndClose(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"Shutdown", "Close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			a, b := ts.login(t), ts.login(t)
			awaitParked(t, ts, 2)
			if how == "Shutdown" {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				if err := ts.srv.Shutdown(ctx); err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			} else if err := ts.srv.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			a.expectReplyThenClose(421)
			b.expectReplyThenClose(421)
			awaitSessionsEnded(t, ts, 2)
		})
	}
}

// A session on TLS (AUTH TLS) parks on the socket below TLS and resumes:
// the next command and a protected transfer work, through a real client.
func TestParkedTLSSessionResumes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS())
	c := ptClientDial(t, ts, ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true})) // the test certificate is self-signed
	awaitParked(t, ts, 1)
	content := pattern(64 << 10)
	if err := c.Stor("tls.bin", bytes.NewReader(content)); err != nil {
		t.Fatalf("Stor after parking: %v", err)
	}
	awaitParked(t, ts, 1)
	r, err := c.Retr("tls.bin")
	if err != nil {
		t.Fatalf("Retr after parking: %v", err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Retr after parking: %d bytes, %v", len(got), err)
	}
	ptAssertSessionsUsedTLS(t, ts)
}
