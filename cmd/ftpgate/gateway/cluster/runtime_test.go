package cluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestRuntimeOptionsAndStats (miniredis): a feature's options carry the
// prefix, deadline and fail mode; its calls are counted by feature and
// result (the connection's AUTH counts too); errors reported through OnError count as fallbacks and are
// logged once per feature and interval, without the password.
func TestRuntimeOptionsAndStats(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("hunter2-secret")
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("hunter2-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Redis, c.PasswordFile, c.InstanceID = m.Addr(), pw, "n1"
	c.Deadline = conf.Duration(2 * time.Second)
	c.Fail.Bans = FailClosed
	log := &syncBuffer{}
	rt, err := New(c, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()
	o := rt.Options(Bans)
	if o.Prefix != "ftpgate:" || o.Deadline != 2*time.Second || o.FailOpen || !rt.Options(Rates).FailOpen || rt.Options(Quota).FailOpen {
		t.Fatalf("options %+v", o)
	}
	if err := o.Client.Set(ctx, o.Prefix+"rl:x", "1", time.Minute).Err(); err != nil {
		t.Fatalf("set with the password: %v", err)
	}
	if err := o.Client.Get(ctx, o.Prefix+"rl:missing").Err(); err == nil {
		t.Fatal("get of a missing key: no redis.Nil")
	}
	m.Close()
	err = o.Client.Get(ctx, o.Prefix+"rl:x").Err()
	if err == nil {
		t.Fatal("get with Redis closed: no error")
	}
	o.OnError("get", err)
	o.OnError("get", errors.New("second"))
	st := rt.Stats()
	bans := st.Features[Bans]
	if st.Up || bans.Feature != "bans" || bans.OK < 2 || bans.Errors+bans.Timeouts != 1 || bans.Fallbacks != 2 || st.Features[Rates].OK != 0 {
		t.Fatalf("stats %+v", st)
	}
	out := log.String()
	if strings.Count(out, "Redis call failed") != 1 || !strings.Contains(out, "feature=bans") || !strings.Contains(out, "fail=closed") || strings.Contains(out, "hunter2") {
		t.Fatalf("log:\n%s", out)
	}
}

// TestRuntimeWrongPassword (miniredis): a wrong password fails the calls
// (and the feature falls back), never New.
func TestRuntimeWrongPassword(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("right")
	t.Setenv(PasswordEnv, "wrong")
	c := Default()
	c.Redis = m.Addr()
	rt, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if err := rt.Client(Sessions).Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping with a wrong password succeeded")
	}
	if !strings.HasPrefix(rt.ID(), "") || !validName(rt.ID(), maxInstanceID, "") {
		t.Fatalf("generated id %q", rt.ID())
	}
}
