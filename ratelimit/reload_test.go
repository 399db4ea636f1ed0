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

// TestConcurrentSetConfigsAgree: SetConfig calls racing each other leave
// one of them in force whole: the config Config reports is the newest one
// stored, and the tables' bounds are that config's, not a mix of two.
func TestConcurrentSetConfigsAgree(t *testing.T) {
	t.Parallel()
	var l Limiter
	const rounds = 300 // bounded: a mix showed within a few rounds without the lock
	for r := range rounds {
		a, b := (r+1)*tableShards, (r+2)*tableShards*3
		done := make(chan error, 2)
		for _, n := range []int{a, b} {
			go func() { done <- l.SetConfig(Config{MaxTrackedIPs: n, MaxTrackedUsers: n, MaxBans: n}) }()
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		c := l.cfg.Load()
		if c.gen != l.gen.Load() {
			t.Fatalf("round %d: the config in force is generation %d, the newest stored %d", r, c.gen, l.gen.Load())
		}
		per := c.MaxTrackedIPs / tableShards
		for _, tb := range []int{l.ips.shards[0].limit, l.bans.shards[tableShards-1].limit} {
			if tb != per {
				t.Fatalf("round %d: config says %d tracked addresses (%d a shard), a table holds %d a shard", r, c.MaxTrackedIPs, per, tb)
			}
		}
	}
}
