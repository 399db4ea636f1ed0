package gateway

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ftpgate/ftpgate/tenancy"
)

// What `ftpgate serve` does around a Gateway in both of its modes, so that
// the command only maps flags onto a Config.

// ReloadSignals catches SIGHUP and SIGUSR1 for Serve's hup channel (their
// default action would end the process; logrotate's postrotate and service
// managers send them to mean "reopen" or "reload"). Call it before
// anything slow runs, so that a HUP during start-up is no crash, and call
// stop when done. The channel holds one signal.
func ReloadSignals() (hup <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP, syscall.SIGUSR1)
	return c, func() { signal.Stop(c) }
}

// Announce prints the listeners' addresses on w, where scripts and tests
// read them: the admin API's first, as the tests expect.
func (g *Gateway) Announce(w io.Writer) {
	if u := g.AdminURL(); u != "" {
		fmt.Fprintf(w, "ftpgate: admin API on %s\n", u)
	}
	fmt.Fprintf(w, "ftpgate: listening on %s\n", g.Addr())
	if a := g.ImplicitTLSAddr(); a != nil {
		fmt.Fprintf(w, "ftpgate: implicit TLS on %s\n", a)
	}
	if u := g.TelemetryURL(); u != "" {
		fmt.Fprintf(w, "ftpgate: telemetry on %s\n", u)
	}
}

// ExitStatus is the process's exit status once Serve returned err: 0 for
// a stop, 1 for a failure.
func ExitStatus(err error) int {
	if err != nil {
		return 1
	}
	return 0
}

// LoadOverride reads the server file and puts from's values of keys
// (server-file keys, as Override takes them: the flags given with the
// file) over it, then validates the result, since an override may break
// a pairing.
func LoadOverride(file string, from *Config, keys []string) (Config, error) {
	cfg, err := Load(file)
	if err != nil {
		return cfg, err
	}
	if err := cfg.Override(from, keys); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// OneTenant is c with a single tenant, the default, named tenant: the
// directory root on the os.Root backend as every tenant's, with users
// (name to plain password, hashed here). This is how flag mode serves;
// errors name --root and --user, and tenancy's errors name "flags" as
// their source. The result is not validated.
func (c Config) OneTenant(tenant, root string, users map[string]string) (Config, error) {
	// tenancy delays failed logins (timeouts.login_failure_delay).
	c.Limits.FailedLoginDelay = -1
	t, err := tenancy.OneTenant("--root", tenant, root, users)
	if err != nil {
		return c, fmt.Errorf("--user: %w", err)
	}
	c.Tenants.Default = tenant
	c.Tenancy = &tenancy.Config{File: "flags", Server: c.TenancyServer(), Tenants: []*tenancy.TenantConfig{t}}
	return c, nil
}
