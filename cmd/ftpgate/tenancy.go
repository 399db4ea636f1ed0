package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
)

// flagsWithConfig (and the --policy-*, --admin-* and --telemetry-* flags) are the serve
// flags that still apply with --config, over the file's value; every other
// setting comes from the file.
var flagsWithConfig = []string{"config", "shutdown-timeout", "drain-grace", "enable-hash", "enable-comb", "mode-z-level", "max-decompressed-upload", "log-format", "log-level"}

// checkConfigExclusive refuses flags that --config replaces, so that no
// one wonders which of the two wins.
func (c *serveConfig) checkConfigExclusive() error {
	if c.configFile == "" {
		return nil
	}
	for _, name := range c.setFlags {
		if name == "policy" {
			return errors.New("--policy cannot be combined with --config: each tenant uploads its own policy through the admin API (--admin-listen)")
		}
		if strings.HasPrefix(name, "policy-") || strings.HasPrefix(name, "admin-") || strings.HasPrefix(name, "telemetry-") {
			continue
		}
		if strings.HasPrefix(name, "limit-") {
			return fmt.Errorf("--%s cannot be combined with --config: set limits in the server file's [limits] section and the tenant files", name)
		}
		if !slices.Contains(flagsWithConfig, name) {
			return fmt.Errorf("--%s cannot be combined with --config: set it in the config file", name)
		}
	}
	return nil
}

// loadConfigFile reads the server file and puts the flags given with it
// over its values.
func (c *serveConfig) loadConfigFile() (gateway.Config, error) {
	cfg, err := gateway.Load(c.configFile)
	if err != nil {
		return cfg, err
	}
	var keys []string
	for _, name := range c.setFlags {
		if key := flagKeys[name]; !strings.HasPrefix(key, "-: ") {
			keys = append(keys, key)
		}
	}
	if err := cfg.Override(&c.Config, keys); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate() // a flag may have changed a pairing
}

// serveConfigFile runs `ftpgate serve --config FILE` through the gateway:
// reloaded on SIGHUP and by the admin API, stopped like the flags mode.
func serveConfigFile(ctx context.Context, flags *serveConfig, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	// Caught before anything slow runs, so that a HUP during start-up is
	// no crash.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := flags.loadConfigFile()
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: --config:\n%v\n", err)
		return 1
	}
	log := cfg.Logger(stderr)
	g, err := gateway.New(cfg, gateway.Options{Logger: log, Reread: flags.loadConfigFile})
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	announce(g, stdout)
	log.Info("serving", "config", cfg.File, "tenants", len(cfg.Tenancy.Tenants))
	reread := func() error { _, err := g.Reread(); return err } // logged
	return runGateway(ctx, g, hup, signals, reread, time.Duration(cfg.Timeouts.Shutdown), log)
}

// announce prints the listeners' addresses on stdout, where scripts and
// tests read them; the admin API's first, as the tests expect.
func announce(g *gateway.Gateway, stdout io.Writer) {
	if u := g.AdminURL(); u != "" {
		fmt.Fprintf(stdout, "ftpgate: admin API on %s\n", u)
	}
	fmt.Fprintf(stdout, "ftpgate: listening on %s\n", g.Addr())
	if a := g.ImplicitTLSAddr(); a != nil {
		fmt.Fprintf(stdout, "ftpgate: implicit TLS on %s\n", a)
	}
	if u := g.TelemetryURL(); u != "" {
		fmt.Fprintf(stdout, "ftpgate: telemetry on %s\n", u)
	}
}

// runGateway serves g until ctx ends or a signal arrives: SIGHUP calls
// reload, the first other signal (or ctx's end) starts stopGateway.
func runGateway(ctx context.Context, g *gateway.Gateway, hup, signals <-chan os.Signal, reload func() error, shutdown time.Duration, log *slog.Logger) int {
	served := make(chan error, 1)
	go func() { served <- g.Run(context.Background()) }()
	for {
		select {
		case err := <-served:
			log.Error("server stopped", "err", err)
			return 1
		case <-hup:
			_ = reload() // logged
			continue
		case sig := <-signals:
			log.Info("shutting down", "signal", sig.String(), "drain_grace", g.DrainGrace(), "shutdown_timeout", shutdown)
		case <-ctx.Done():
			log.Info("shutting down", "reason", ctx.Err())
		}
		break
	}
	stopGateway(g, signals, shutdown, log)
	if err := <-served; err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
