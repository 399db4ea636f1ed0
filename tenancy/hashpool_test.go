package tenancy

import (
	"strings"
	"testing"
	"time"
)

// TestHashPoolLanes: suspect checks use at most half the workers and a
// bounded queue; a freed worker goes to a waiting clean check before any
// suspect one; closing the driver ends every wait.
func TestHashPoolLanes(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	p := newHashPool(4, done)
	if p.suspectWorkers != 2 || p.suspectQueue != 2*suspectQueuePerWorker {
		t.Fatalf("pool of 4: %d suspect workers, queue %d", p.suspectWorkers, p.suspectQueue)
	}
	must := func(suspect bool) func() {
		t.Helper()
		rel, ok := p.acquire(suspect)
		if !ok {
			t.Fatalf("acquire(suspect=%v) refused", suspect)
		}
		return rel
	}
	s1, _ := must(true), must(true)
	// A third suspect check waits although two workers are free.
	type got struct {
		rel func()
		ok  bool
	}
	waiter := func(suspect bool) chan got {
		ch := make(chan got, 1)
		go func() {
			rel, ok := p.acquire(suspect)
			ch <- got{rel, ok}
		}()
		return ch
	}
	s3 := waiter(true)
	waitFor(t, "a suspect waiter", func() bool { return p.stats().waitingSuspect == 1 })
	c1, _ := must(false), must(false) // clean checks take the free workers at once
	c3 := waiter(false)
	waitFor(t, "a clean waiter", func() bool { return p.stats().waitingClean == 1 })
	// A suspect worker frees: the clean waiter gets it, the suspect one
	// still waits (suspect checks would be within their share, but the
	// clean one came first in the hand-off order).
	s1()
	g := <-c3
	if !g.ok {
		t.Fatal("clean waiter refused")
	}
	if st := p.stats(); st.waitingSuspect != 1 || st.running != 4 {
		t.Fatalf("after the hand-off: %+v", st)
	}
	// Fill the suspect queue; one more is refused at once.
	var queued []chan got
	for range p.suspectQueue - 1 {
		queued = append(queued, waiter(true))
	}
	waitFor(t, "a full suspect queue", func() bool { return p.stats().waitingSuspect == p.suspectQueue })
	if _, ok := p.acquire(true); ok {
		t.Fatal("a suspect check past the queue was accepted")
	}
	// A clean worker frees with no clean waiter: the suspect lane has
	// one worker running of its two, so the oldest suspect waiter runs.
	c1()
	select {
	case g := <-s3:
		if !g.ok {
			t.Fatal("suspect waiter refused")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the oldest suspect waiter did not get the free worker")
	}
	close(done)
	for _, ch := range queued {
		if g := <-ch; g.ok {
			t.Fatal("a waiter got a worker after the driver closed")
		}
	}
}

// FuzzASCIILower: a name folds to itself with A-Z lowered, or is refused
// when it holds anything but printable ASCII; a folded name compares
// equal to the others of its ASCII case class only.
func FuzzASCIILower(f *testing.F) {
	for _, s := range []string{"acme", "ACME.test", "\u0130nitech", "\u212Aiosk", "a b", "", "x\x7f", "ftp.acme.test."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := asciiLower(s)
		if !ok {
			for i := 0; i < len(s); i++ {
				if s[i] <= ' ' || s[i] >= 0x7f {
					return
				}
			}
			if s != "" {
				t.Fatalf("%q refused", s)
			}
			return
		}
		if len(got) != len(s) || !strings.EqualFold(got, s) || got != strings.ToLower(s) {
			t.Fatalf("%q → %q", s, got)
		}
	})
}
