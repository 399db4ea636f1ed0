package ratelimit

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestReloadKeepsSessions: SetConfig changes the limits for what comes
// next, while sessions, their transfers and the counts they hold go on.
func TestReloadKeepsSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{MaxConnsPerIP: 5, LoginFailures: 3, FailedLoginDelay: -1}, nil)
	want := ts.writeFile(t, "f.bin", testSize/2)
	a := ts.ftpClient(t, "127.0.0.1", "alice")
	b, _, _ := ts.dialRaw(t, "127.0.0.1")
	b.Expect("USER bob", 331)
	b.Expect("PASS wrong", 530) // one failure on the score

	if err := ts.l.SetConfig(Config{MaxConnsPerIP: 2, LoginFailures: 2, FailedLoginDelay: -1,
		User: Limits{DownloadRate: testRate}}); err != nil {
		t.Fatal(err)
	}
	// The two sessions stay; a third connection is now one too many.
	if err := a.NoOp(); err != nil {
		t.Fatalf("session after reload: %v", err)
	}
	c, code, text := ts.dialRaw(t, "127.0.0.1")
	if code != 421 || !strings.Contains(text, "from your address") {
		t.Fatalf("third connection after lowering the limit to 2: %d %s", code, text)
	}
	c.ExpectClosed()
	// The failure score survived the reload: the second failure bans.
	b.Expect("USER bob", 331)
	b.Expect("PASS wrong", 530)
	if ts.l.Stats().Bans != 1 {
		t.Fatal("the failure before the reload was forgotten")
	}
	// The new download rate applies to the session that existed before.
	start := time.Now()
	got := retr(t, a, "f.bin")
	checkDuration(t, "download after reload", testSize/2, time.Since(start))
	if !bytes.Equal(got, want) {
		t.Fatal("downloaded bytes differ")
	}

	if err := ts.l.SetConfig(Config{ConnRate: -1}); err == nil {
		t.Fatal("an invalid config was accepted")
	}
	if got := ts.l.Config().MaxConnsPerIP; got != 2 {
		t.Fatalf("after a refused reload the limit is %d, want the old 2", got)
	}
}
