package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/tenancy"
)

// userList collects repeated --user NAME:PASSWORD flags.
type userList map[string]string

func (u userList) String() string { return "" }

func (u userList) Set(v string) error {
	name, pass, ok := strings.Cut(v, ":")
	switch {
	case !ok || name == "" || pass == "":
		return errors.New("want NAME:PASSWORD with neither part empty")
	case strings.ContainsAny(name, " \r\n\t"):
		return errors.New("a user name cannot contain spaces or line breaks")
	}
	if _, dup := u[name]; dup {
		return fmt.Errorf("user %q given twice", name)
	}
	u[name] = pass
	return nil
}

// randomPassword returns a password for the demo user: 20 characters of an
// alphabet without look-alikes, about 100 bits.
func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported systems
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

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
	// SIGHUP's default action ends the process; logrotate's postrotate
	// and service managers send it to mean "reload". Caught before
	// anything slow runs, so that a HUP during start-up is no crash.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := cfg.Logger(stderr)

	root, err := filepath.Abs(cfg.root)
	if err == nil {
		err = os.MkdirAll(root, 0o750)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: --root: %v\n", err)
		return 1
	}
	users := cfg.users
	if len(users) == 0 {
		users = userList{"demo": randomPassword()}
		fmt.Fprintf(stdout, "ftpgate: user %q password: %s (shown once)\n", "demo", users["demo"])
	}

	gcfg, err := cfg.gatewayConfig(users)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 2
	}
	var g *gateway.Gateway
	reload := func() error { return reloadFlags(ctx, g, gcfg, &cfg.policy, log) }
	g, err = gateway.New(gcfg, gateway.Options{
		Logger: log,
		Policy: func(srv *engine.Server, env gateway.Env) (func(context.Context), error) {
			return startPolicy(ctx, &cfg.policy, flagTenants(env.Tenancy, reload), srv, log, stdout)
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	announce(g.Addr(), g.ImplicitTLSAddr(), stdout)
	log.Info("serving", "root", root, "users", len(users))
	return runGateway(ctx, g, hup, signals, reload, time.Duration(cfg.Timeouts.Shutdown), log)
}

// flagRestartNeeded is what a reload in flag mode says: the flags are
// read once.
const flagRestartNeeded = "every other setting comes from a flag, and flags change only on restart"

// reloadFlags is SIGHUP and POST /v1/reload in flag mode: the flags are
// the same, but the files they name are read again: the TLS certificate,
// its key and the client CAs (through the gateway's Reload of the same
// configuration; a file that no longer loads is refused and the running
// one stays), and the --policy module. The --user passwords were hashed
// at start and stay.
func reloadFlags(ctx context.Context, g *gateway.Gateway, cfg gateway.Config, p *policyConfig, log *slog.Logger) error {
	if err := g.Reload(cfg); err != nil {
		return err
	}
	reread := []string{"tls"}
	if p.reinstall != nil {
		if err := p.reinstall(ctx); err != nil {
			log.Error("reload: --policy rejected; the running policy stays", "err", err)
			return err
		}
		reread = append(reread, "policy")
	}
	log.Info("reloaded: files re-read; "+flagRestartNeeded, "reread", reread)
	return nil
}

// flagTenants is how the policy runtime and its admin API see flag
// mode's one tenant (flagTenant): every session belongs to it, even
// before login, and it has no admin token of its own.
func flagTenants(d *tenancy.Driver, reload func() error) policyTenants {
	return policyTenants{
		of:         func(engine.ClientContext) string { return flagTenant },
		identity:   tenancy.Identity,
		tenantPath: d.TenantPath,
		known:      func(t string) bool { return t == flagTenant },
		reload:     reload,
	}
}

// announce prints the listeners' addresses on stdout, where scripts and
// tests read them.
func announce(addr, implicitTLS net.Addr, stdout io.Writer) {
	fmt.Fprintf(stdout, "ftpgate: listening on %s\n", addr)
	if implicitTLS != nil {
		fmt.Fprintf(stdout, "ftpgate: implicit TLS on %s\n", implicitTLS)
	}
}
