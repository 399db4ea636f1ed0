package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"testing"
)

// bytesPerTrackedKey is the documented bound on the memory one tracked
// address or user costs, everything included (map slot, list entry,
// buckets). Measured at about 250 bytes with a connection rate and a
// failure score; the bound leaves room for other platforms.
const bytesPerTrackedKey = 512

// TestFloodOfAddressesStaysBounded sends a million distinct client
// addresses through admission, and a failed login for every tenth of them
// under a user name of its own, and shows that the heap stays under the
// documented bound while a legitimate client still gets in.
func TestFloodOfAddressesStaysBounded(t *testing.T) {
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	cfg := Config{
		ConnRate: 1, ConnBurst: 2, MaxConnsPerIP: 2, MaxConns: 1000,
		LoginFailures: 3, FailedLoginDelay: -1,
		MaxTrackedIPs: 1 << 14, MaxTrackedUsers: 1 << 14, MaxBans: 1 << 12,
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = slog.New(slog.DiscardHandler)
	drv := loginVia(l, &passwordDriver{users: map[string]string{"alice": "secret"}})
	ctx := context.Background()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	cc := &fakeSession{}
	addr := &net.TCPAddr{IP: make(net.IP, 4), Port: 40000}
	cc.remote = addr
	for i := range n {
		v := uint32(10<<24 | i)
		addr.IP[0], addr.IP[1], addr.IP[2], addr.IP[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		cc.id = uint32(i + 1)
		done, err := l.Admit(ctx, cc)
		if err != nil {
			t.Fatalf("address %d refused: %v", i, err)
		}
		if i%10 == 0 {
			if _, err := drv.AuthUser(cc, fmt.Sprintf("user%d", i), "guess"); err == nil {
				t.Fatal("a wrong password logged in")
			}
		}
		done()
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := l.Stats()
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	bound := int64(bytesPerTrackedKey * (cfg.MaxTrackedIPs + 2*cfg.MaxTrackedUsers + cfg.MaxBans))
	t.Logf("%d addresses: heap grew %d bytes (bound %d), tracked %d addresses, %d users",
		n, grown, bound, st.TrackedIPs, st.TrackedUsers)
	if grown > bound {
		t.Errorf("heap grew %d bytes, over the bound of %d", grown, bound)
	}
	if st.TrackedIPs > cfg.MaxTrackedIPs || st.TrackedUsers > cfg.MaxTrackedUsers {
		t.Errorf("tracking %d addresses and %d users, over the limits %d and %d",
			st.TrackedIPs, st.TrackedUsers, cfg.MaxTrackedIPs, cfg.MaxTrackedUsers)
	}
	if st.Connections != 0 {
		t.Errorf("%d connections still counted after every one ended", st.Connections)
	}

	legit := &fakeSession{id: uint32(n + 1), remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}}
	done, err := l.Admit(ctx, legit)
	if err != nil {
		t.Fatalf("legitimate client refused after the flood: %v", err)
	}
	defer done()
	legit.setUser("alice")
	if _, err := drv.AuthUser(legit, "alice", "secret"); err != nil {
		t.Fatalf("legitimate login refused after the flood: %v", err)
	}
	runtime.KeepAlive(l)
}
