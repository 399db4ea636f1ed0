package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/tenancy"
)

// flagsWithConfig (and the --policy-* and --admin-* flags) are the serve flags that still apply with --config;
// every other setting comes from the file.
var flagsWithConfig = []string{"config", "shutdown-timeout", "enable-hash", "enable-comb", "mode-z-level", "max-decompressed-upload"}

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
		if strings.HasPrefix(name, "policy-") || strings.HasPrefix(name, "admin-") {
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

// serveConfigFile runs `ftpgate serve --config FILE`: tenancy.Driver over
// the server file's tenants, reloaded on SIGHUP, stopped like the
// embedded default.
func serveConfigFile(ctx context.Context, flags *serveConfig, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	cfg, err := tenancy.LoadConfig(flags.configFile)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: --config:\n%v\n", err)
		return 1
	}
	log := configLogger(cfg.Server, stderr)
	var defaultCert *tls.Certificate
	if cfg.Server.TLSCert == "" {
		c, err := selfSignedCertificate(time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "ftpgate serve: making a self-signed certificate: %v\n", err)
			return 1
		}
		defaultCert = &c
	}
	d, err := tenancy.New(cfg, tenancy.Options{Logger: log, DefaultCertificate: defaultCert})
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	defer d.Close()
	st := d.Settings
	st.EnableHASH, st.EnableCOMB = flags.enableHASH, flags.enableCOMB
	st.ModeZLevel, st.MaxDecompressedUploadSize = flags.modeZLevel, int64(flags.maxDecompressed)
	pc, err := proxyFromFile(cfg.Server.ProxyProtocol)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %s: %v\n", cfg.File, err)
		return 1
	}
	driver, err := pc.wire(st, d, log)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	srv := &engine.Server{Driver: driver, Logger: log}
	limiter, err := ratelimit.New(configLimits(cfg))
	if err != nil { // LoadConfig validated the section; this is a bug
		fmt.Fprintf(stderr, "ftpgate serve: [limits]: %v\n", err)
		return 1
	}
	// Failures count on the account a login resolves to, and logins
	// from addresses or for accounts that failed lately get the smaller
	// share of the password-hash workers.
	limiter.Logger, limiter.Identity, limiter.ResolveLogin = log, tenancy.Identity, d.ResolveLogin
	d.LoginSuspect = limiter.Suspect
	limiter.Install(srv)
	// reloads serialises SIGHUP and the admin API's POST /v1/reload.
	var reloads sync.Mutex
	reload := func() error {
		reloads.Lock()
		defer reloads.Unlock()
		return reloadConfig(d, limiter, cfg, flags.configFile, log)
	}
	stopPolicy, err := startPolicy(ctx, &flags.policy, configTenants(d, reload), srv, log, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	defer stopPolicy(context.Background())
	if err := listenAndAnnounce(srv, stdout); err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	log.Info("serving", "config", cfg.File, "tenants", len(cfg.Tenants))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	shutdown := cfg.Server.ShutdownTimeout
	if slices.Contains(flags.setFlags, "shutdown-timeout") {
		shutdown = flags.shutdownTimeout
	}
	for {
		select {
		case err := <-served:
			log.Error("server stopped", "err", err)
			return 1
		case <-hup:
			_ = reload() // logged by reloadConfig
			continue
		case sig := <-signals:
			log.Info("shutting down", "signal", sig.String(), "grace", shutdown)
		case <-ctx.Done():
			log.Info("shutting down", "reason", ctx.Err())
		}
		break
	}
	return stopServer(srv, served, signals, shutdown, log)
}

// configLimits is the configuration's rate limits. tenancy delays failed
// logins itself (timeouts.login_failure_delay), so the limiter adds no
// delay of its own unless [limits] asks for one.
func configLimits(cfg *tenancy.Config) ratelimit.Config {
	rl := cfg.RateLimits()
	if rl.FailedLoginDelay == 0 {
		rl.FailedLoginDelay = -1
	}
	return rl
}

// reloadConfig re-reads every file; an invalid set is rejected whole and
// the running one stays, and the error says why. started is the configuration the listeners were
// opened with.
func reloadConfig(d *tenancy.Driver, limiter *ratelimit.Limiter, started *tenancy.Config, file string, log *slog.Logger) error {
	next, err := tenancy.LoadConfig(file)
	if err != nil {
		log.Error("reload rejected: the configuration has errors; the running one stays", "errors", err.Error())
		return err
	}
	if err := d.Reload(next); err != nil {
		log.Error("reload rejected; the running configuration stays", "err", err)
		return err
	}
	if err := limiter.SetConfig(configLimits(next)); err != nil {
		log.Error("reload: the new limits were refused; the running limits stay", "err", err)
	}
	a, b := started.Server, next.Server
	if a.Listen != b.Listen || a.ImplicitTLSListen != b.ImplicitTLSListen || a.PassivePortLow != b.PassivePortLow ||
		a.PassivePortHigh != b.PassivePortHigh || a.PublicHost != b.PublicHost || a.IdleTimeout != b.IdleTimeout ||
		a.ConnectionTimeout != b.ConnectionTimeout || a.LogFormat != b.LogFormat || a.LogLevel != b.LogLevel {
		log.Warn("reload: listeners, passive ports, timeouts and logging only change on restart")
	}
	return nil
}

// configLogger returns the logger the server file asks for.
func configLogger(s tenancy.ServerConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel)) // validated by LoadConfig
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
