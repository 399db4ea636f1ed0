package gateway

import (
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestDrainGrace: timeouts.drain_grace applies only with a telemetry
// listener (without one no balancer can see the drain, so the stop does
// not wait), defaults to DefaultDrainGrace, and follows a reload.
func TestDrainGrace(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        time.Duration
	}{
		{"no telemetry", "[timeouts]\ndrain_grace = \"7s\"\n", 0},
		{"telemetry, default", "[telemetry]\nlisten = \"127.0.0.1:0\"\n", DefaultDrainGrace},
		{"telemetry", "[telemetry]\nlisten = \"127.0.0.1:0\"\n[timeouts]\ndrain_grace = \"7s\"\n", 7 * time.Second},
		{"telemetry, zero", "[telemetry]\nlisten = \"127.0.0.1:0\"\n[timeouts]\ndrain_grace = \"0s\"\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFiles(t)
			f.write(t, tc.extra, "")
			g, cfg := newGateway(t, f, Options{WithoutPolicy: true})
			t.Cleanup(func() { _ = g.Shutdown(t.Context()) })
			if got := g.DrainGrace(); got != tc.want {
				t.Fatalf("DrainGrace %v, want %v", got, tc.want)
			}
			if tc.want == 0 {
				return
			}
			cfg.Timeouts.DrainGrace = conf.Duration(time.Minute)
			if err := g.Reload(cfg); err != nil {
				t.Fatal(err)
			}
			if got := g.DrainGrace(); got != time.Minute {
				t.Fatalf("DrainGrace after a reload %v, want 1m", got)
			}
		})
	}
}
