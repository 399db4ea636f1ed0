package ratelimit_test

import (
	"log"
	"log/slog"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// A server that bans addresses after five failed logins in ten minutes,
// lets each address open two connections a second, and shares 10 MB/s of
// download among all the sessions of each tenant.
func ExampleLimiter_Install() {
	l, err := ratelimit.New(ratelimit.Config{
		ConnRate:      2,
		ConnBurst:     5,
		LoginFailures: 5,
		LoginWindow:   conf.Duration(10 * time.Minute),
		Safe:          []string{"10.0.0.0/8"},
		Tenant:        ratelimit.Limits{DownloadRate: 10 << 20},
	})
	if err != nil {
		log.Fatal(err)
	}
	l.Logger = slog.Default()
	// With tenants, say who a session belongs to once it has logged in.
	l.Identity = func(cc engine.ClientContext) (tenant, user string) {
		return cc.HostName(), cc.User()
	}
	srv := &engine.Server{Driver: nil /* your MainDriver */}
	l.Install(srv) // after setting srv.Driver
	_ = srv
}
