package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/tenancy"
)

// userList is --user (tenancy.UserFlag).
type userList = tenancy.UserFlag

// serve runs `ftpgate serve` until ctx ends or a signal arrives: the first
// signal shuts down gracefully, a second one stops at once.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	cfg, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 2
	}
	if cfg.configFile != "" {
		return serveConfigFile(ctx, cfg, stdout, stderr, signals)
	}
	hup, stopHup := gateway.ReloadSignals()
	defer stopHup()
	log := cfg.Logger(stderr)

	users := cfg.users
	if len(users) == 0 {
		users = userList{"demo": tenancy.RandomPassword()}
		fmt.Fprintf(stdout, "ftpgate: user %q password: %s (shown once)\n", "demo", users["demo"])
	}

	gcfg, err := cfg.gatewayConfig(users)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 2
	}
	policies, err := cfg.policy.startPolicies()
	var g *gateway.Gateway
	if err == nil {
		g, err = gateway.New(gcfg, gateway.Options{Logger: log, Tenant: flagTenant, Policies: policies,
			Reread: func() (gateway.Config, error) { return gcfg, reinstallPolicy(ctx, g, &cfg.policy, log) }})
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", flagErrors(err))
		return 1
	}
	g.Announce(stdout)
	log.Info("serving", "root", gcfg.Tenancy.Tenants[0].Storage.Dir, "users", len(users))
	reload := func() error {
		if _, err := g.Reread(); err != nil {
			return err // logged
		}
		log.Info("reloaded: files re-read; " + flagRestartNeeded)
		return nil
	}
	return gateway.ExitStatus(g.Serve(ctx, hup, signals, reload))
}

// flagRestartNeeded is what a reload in flag mode says: the flags are
// read once.
const flagRestartNeeded = "every other setting comes from a flag, and flags change only on restart"
