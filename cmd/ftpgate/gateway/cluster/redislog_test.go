package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// redisLogChild names the environment variable that makes
// TestRedisLogsThroughSlog run its child part.
const redisLogChild = "FTPGATE_TEST_REDISLOG_CHILD"

// TestRedisLogsThroughSlog: a Runtime whose Redis does not answer (a
// closed port) gets go-redis's "failed to dial" line through its slog
// handler, and nothing reaches stderr. It runs its body in a child
// process (this test binary again), so that the child's stderr can be
// read whole without redirecting this process's os.Stderr.
func TestRedisLogsThroughSlog(t *testing.T) {
	if os.Getenv(redisLogChild) == "1" {
		redisLogBody(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRedisLogsThroughSlog$", "-test.count=1")
	cmd.Env = append(os.Environ(), redisLogChild+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("go-redis wrote to stderr:\n%s", stderr.String())
	}
	var found bool
	for line := range strings.Lines(stdout.String()) {
		if strings.Contains(line, `"msg":"cluster: go-redis"`) && strings.Contains(line, "failed to dial") &&
			strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"component":"cluster"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no go-redis line through slog; stdout:\n%s", stdout.String())
	}
}

// redisLogBody is the child's part: runtime a on a closed port logs as
// JSON to stdout; runtime b, started after it (so the fallback for lines
// that name neither's address), on another closed port,, logs to a buffer that must not get a's line.
func redisLogBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	mk := func(addr string, log *slog.Logger) *Runtime {
		c := Default()
		c.Redis = addr
		c.Deadline = conf.Duration(time.Second) // dials to a closed port fail at once; this bounds the retries
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		rt, err := New(c, log)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	a := mk(dead, slog.New(slog.NewJSONHandler(os.Stdout, nil)))
	defer a.Close()
	// b's Redis is another closed port.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	other := &syncBuffer{}
	b := mk(ln.Addr().String(), slog.New(slog.NewTextHandler(other, nil)))
	defer b.Close()
	if err := a.Client(Bans).Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	if strings.Contains(other.String(), "failed to dial") {
		t.Errorf("a's dial failure went to b's logger:\n%s", other.String())
	}
}
