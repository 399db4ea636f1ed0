package ratelimit

import (
	"errors"
	"math"
	"testing"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestValidateNamesEveryKey: every bad setting is reported at once, each
// on its own key relative to [limits], so that the server file's errors
// carry the key's line.
func TestValidateNamesEveryKey(t *testing.T) {
	err := Config{MaxConnsPerIP: -3, IPv4Prefix: 8, Safe: []string{"10.0.0.0/99"}, LoginWindow: -1,
		User: Limits{MaxSessions: -1}, Users: map[string]Limits{"bob": {CommandRate: math.NaN()}}}.Validate()
	var es conf.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Validate = %v (%T), want conf.Errors", err, err)
	}
	want := map[string]bool{"conn_per_ip": true, "ipv4_prefix": true, "safe": true, "login_window": true, "user": true, "users.bob.command_rate": true}
	for _, e := range es {
		if !want[e.Key] || e.Msg == "" {
			t.Errorf("unexpected %+v", e)
		}
		delete(want, e.Key)
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v (got %v)", want, err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}
