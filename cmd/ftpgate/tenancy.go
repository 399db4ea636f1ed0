package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

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
	var keys []string
	for _, name := range c.setFlags {
		if key := flagKeys[name]; !strings.HasPrefix(key, "-: ") {
			keys = append(keys, key)
		}
	}
	return gateway.LoadOverride(c.configFile, &c.Config, keys)
}

// serveConfigFile runs `ftpgate serve --config FILE` through the gateway:
// reloaded on SIGHUP and by the admin API, stopped like the flags mode.
func serveConfigFile(ctx context.Context, flags *serveConfig, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	hup, stopHup := gateway.ReloadSignals()
	defer stopHup()
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
	g.Announce(stdout)
	log.Info("serving", "config", cfg.File, "tenants", len(cfg.Tenancy.Tenants))
	return gateway.ExitStatus(g.Serve(ctx, hup, signals, nil))
}
