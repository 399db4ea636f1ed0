package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
)

func info(gen int64) func() Instance {
	return func() Instance {
		return Instance{Version: "test", Generation: gen, Addresses: Addresses{Control: "127.0.0.1:21"}, Started: time.Unix(1, 0).UTC()}
	}
}

// TestRegistryLeaseAndLeave (real redis-server): two instances list each
// other with their descriptions; one whose heartbeats stop disappears
// once its lease ends (in Redis's clock), one that stops leaves at once.
func TestRegistryLeaseAndLeave(t *testing.T) {
	srv := redistest.Start(t)
	a, b, c := newRuntime(t, srv.Addr(), "a"), newRuntime(t, srv.Addr(), "b"), newRuntime(t, srv.Addr(), "c")
	ra, rb, rc := a.NewRegistry(info(1)), b.NewRegistry(info(2)), c.NewRegistry(info(3))
	ra.Start()
	rb.Start()
	rc.Start()
	list, err := ra.Instances(context.Background())
	if err != nil || len(list) != 3 {
		t.Fatalf("instances = %+v, %v; want a, b and c", list, err)
	}
	in := list[1]
	if in.ID != "b" || in.Version != "test" || in.Generation != 2 || in.Addresses.Control != "127.0.0.1:21" ||
		in.Expires.Sub(in.Heartbeat) != 3*time.Second || in.LeaseMS != 3000 {
		t.Fatalf("b = %+v", in)
	}
	// b dies: no more heartbeats, no goodbye.
	rb.halt()
	last, _ := ra.Instances(context.Background())
	bExpires := last[slices.IndexFunc(last, func(i Instance) bool { return i.ID == "b" })].Expires
	eventually(t, 30*time.Second, "dead b leaves the list", func() bool { return !slices.Contains(ids(t, ra), "b") })
	// The list's end for b was at most one lease after its last beat.
	if bExpires.Sub(in.Heartbeat) > 3*time.Second+3*time.Second/3+time.Second {
		t.Errorf("b expired at %v, last heartbeat seen %v", bExpires, in.Heartbeat)
	}
	// c stops: it leaves at once.
	rc.Stop(context.Background())
	if got := ids(t, ra); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after c stopped: %v, want [a]", got)
	}
	ra.Stop(context.Background())
	if got := ids(t, ra); len(got) != 0 {
		t.Fatalf("after a stopped: %v", got)
	}
}

// TestRegistryRedisRestart (real redis-server): Redis restarted empty,
// the instances register again by themselves, and the metrics saw Redis
// down and up.
func TestRegistryRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a := newRuntime(t, srv.Addr(), "a")
	ra := a.NewRegistry(info(1))
	ra.Start()
	defer ra.Stop(context.Background())
	if got := ids(t, ra); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("instances %v", got)
	}
	srv.Stop()
	if _, err := ra.Instances(context.Background()); err == nil {
		t.Fatal("listing with Redis stopped: no error")
	}
	if a.Stats().Up {
		t.Fatal("Stats().Up with Redis stopped")
	}
	srv.Restart() // empty: no persistence
	eventually(t, 30*time.Second, "a registers again", func() bool { return slices.Equal(ids(t, ra), []string{"a"}) })
	if !a.Stats().Up {
		t.Fatal("Stats().Up false after recovery")
	}
}
