package gateway

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestOverride: the named keys take from's values, every other key keeps
// c's, whatever section (the server's own, a plugin's, an embedded one)
// holds it.
func TestOverride(t *testing.T) {
	c, from := Default(), Default()
	c.Log.Level, c.Log.Format, c.Commands.COMB = "error", "json", true
	from.Log.Level, from.Log.Format = "debug", "text"
	from.Timeouts.Shutdown = conf.Duration(3 * time.Second)
	from.Limits.User.MaxSessions = 4
	from.Limits.Safe = []string{"10.0.0.0/8"}
	from.Policy.Timeout = conf.Duration(30 * time.Millisecond)
	want := c
	want.Log.Level, want.Timeouts.Shutdown, want.Limits.User.MaxSessions, want.Limits.Safe, want.Policy.Timeout =
		"debug", from.Timeouts.Shutdown, 4, from.Limits.Safe, from.Policy.Timeout
	if err := c.Override(&from, []string{"log.level", "timeouts.shutdown", "limits.user.max_sessions", "limits.safe", "policy.timeout"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("after Override:\n%+v\nwant\n%+v", c, want)
	}
	for _, k := range Keys() {
		if strings.ContainsAny(k, "*[") {
			continue // inside a map or list of tables: no single value
		}
		if err := c.Override(&from, []string{k}); err != nil {
			t.Errorf("Override(%q): %v", k, err)
		}
	}
}

// TestOverrideRefusesUnknownKeys: a table, a misspelt key, the File field
// (no key) or a key inside a map of tables is refused and nothing is set, not even the keys before
// it.
func TestOverrideRefusesUnknownKeys(t *testing.T) {
	from := Default()
	from.Log.Level = "debug"
	for _, bad := range []string{"log", "log.levle", "File", "limits.user", "", "tenants.dir.x", "limits.users.*.max_sessions"} {
		c := Default()
		if err := c.Override(&from, []string{"log.level", bad}); err == nil {
			t.Errorf("Override(%q) = nil, want an error", bad)
		}
		if c.Log.Level != Default().Log.Level {
			t.Errorf("Override(%q) failed but set log.level to %q", bad, c.Log.Level)
		}
	}
}
