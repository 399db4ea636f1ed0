package policy

import (
	"context"
	"math/big"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestRequestRemoteCached: a session's request carries its remote address
// without formatting it again on every command (no allocation once the
// session's text is kept), and an address that changes is seen at once.
func TestRequestRemoteCached(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	h := &Hooks{}
	s := &benchSession{addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}}
	cmd := &engine.Command{Session: s, Verb: "EPSV"}
	if got := h.Request(cmd, "t").Remote; got != "192.0.2.7:40000" {
		t.Fatalf("remote %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = h.Request(cmd, "t") }); n != 0 {
		t.Fatalf("%v allocations per request, want 0", n)
	}
	// Another address (a PROXY header's source, say): the new text.
	s.addr = &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 21}
	if got := h.Request(cmd, "t").Remote; got != "[2001:db8::1]:21" {
		t.Fatalf("remote after the change %q", got)
	}
	// Another address of another type is formatted as it is.
	s.addr = &net.UnixAddr{Name: "/run/ftp.sock", Net: "unix"}
	if got := h.Request(cmd, "t").Remote; got != "/run/ftp.sock" {
		t.Fatalf("unix remote %q", got)
	}
}

// TestBucketOfExact: the integer bucketOf is floor(4 × log2(d)), checked
// in exact arithmetic (2^b <= d^4 < 2^(b+1)) around every octave and
// quarter-octave edge and on random durations.
func TestBucketOfExact(t *testing.T) {
	t.Parallel()
	check := func(d time.Duration) {
		got := bucketOf(d)
		if d <= 1 {
			if got != 0 {
				t.Fatalf("bucketOf(%d) = %d, want 0", d, got)
			}
			return
		}
		d4 := new(big.Int).Exp(big.NewInt(int64(d)), big.NewInt(4), nil)
		want := d4.BitLen() - 1 // floor(log2(d^4))
		want = min(want, latencyBuckets-1)
		if got != want {
			t.Fatalf("bucketOf(%d) = %d, want %d", d, got, want)
		}
	}
	for d := time.Duration(-2); d < 1<<12; d++ {
		check(d)
	}
	for k := 1; k < 63; k++ {
		for j := 0; j < 4; j++ {
			// The edge 2^(k + j/4), and the durations on either side.
			e := time.Duration(float64(uint64(1)<<k) * [4]float64{1, 1.189207115002721, 1.4142135623730951, 1.681792830507429}[j])
			for _, d := range []time.Duration{e - 2, e - 1, e, e + 1, e + 2} {
				if d > 0 {
					check(d)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(time.Duration(rng.Int64N(1 << uint(rng.IntN(62)+1))))
	}
}

// settledGoroutines polls, for at most 5 s, until the number of
// goroutines is at most want, and returns the last count: the watcher
// wazero starts for each call ends soon after the call, not with it.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		runtime.Gosched()
		n = runtime.NumGoroutine()
	}
	return n
}

// TestCallsLeaveNoGoroutine: 1000 calls, then 20 calls stopped by their
// deadline, leave no goroutine behind (each call's deadline is a reused
// timer, and wazero's watcher of the call ends with it), and a guest
// spinning forever is stopped at the deadline every time with the
// figures, the 451 and a fresh instance as before.
func TestCallsLeaveNoGoroutine(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	r, _ := newTestRuntime(t, Config{CallTimeout: 20 * time.Millisecond, BreakerErrors: 1000})
	r.Install("ok", mustCompile(t, r, testmod.Respond(abi.AppendResponse(nil, &abi.Response{}), "*")), Settings{})
	r.Install("spin", mustCompile(t, r, testmod.Loop()), Settings{})
	ctx := context.Background()
	// Warm up: the instance, its timer, the runtime's janitor.
	if d := r.Evaluate(ctx, "ok", &abi.Request{Verb: "STOR", Tenant: "ok"}); d.Err != nil || !d.Called {
		t.Fatalf("warm-up: %+v", d)
	}
	before := runtime.NumGoroutine()
	for i := range 1000 {
		if d := r.Evaluate(ctx, "ok", &abi.Request{Verb: "STOR", Tenant: "ok"}); d.Err != nil || !d.Called {
			t.Fatalf("call %d: %+v", i, d)
		}
	}
	// A few goroutines of the test framework or the runtime may come and
	// go; 1000 calls leaving one each would be far above this bound.
	if n := settledGoroutines(before + 5); n > before+5 {
		t.Fatalf("%d goroutines after 1000 calls, %d before", n, before)
	}
	const spins = 20
	for i := range spins {
		start := time.Now()
		d := r.Evaluate(ctx, "spin", &abi.Request{Verb: "STOR", Tenant: "spin"})
		if d.Action != Deny || d.Code != 451 || d.Err == nil {
			t.Fatalf("spin %d: %+v, want the 451 on_error deny", i, d)
		}
		// Far above 20 ms, so that a loaded machine does not fail it;
		// far below forever.
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("spin %d took %v: deadline not enforced", i, el)
		}
	}
	f := r.Figures("spin")
	if f.Timeouts != spins || f.Errors != spins || f.LiveInstances != 0 {
		t.Fatalf("figures after %d spins: %+v", spins, f)
	}
	if n := settledGoroutines(before + 5); n > before+5 {
		t.Fatalf("%d goroutines after %d timed-out calls, %d before", n, spins, before)
	}
}
