package cluster

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/internal/logbuf"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// newRuntime makes a Runtime of instance id on addr, closed by t.Cleanup.
func newRuntime(t *testing.T, addr, id string, set ...func(*Config)) *Runtime {
	t.Helper()
	c := Default()
	c.Redis, c.InstanceID = addr, id
	c.Lease = conf.Duration(3 * time.Second)
	c.Deadline = conf.Duration(2 * time.Second) // an upper bound on a loaded machine
	for _, f := range set {
		f(&c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	rt, err := New(c, slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// eventually polls cond until it holds, failing t after limit (an upper
// bound, not a timing assertion).
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ids lists the instances' ids.
func ids(t *testing.T, g *Registry) []string {
	t.Helper()
	list, err := g.Instances(context.Background())
	if err != nil {
		return nil
	}
	out := []string{}
	for _, in := range list {
		out = append(out, in.ID)
	}
	return out
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer = logbuf.Buffer
