package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/tenancy"
)

// serveConfig is what the flags of `ftpgate serve` ask for.
type serveConfig struct {
	listen            string
	root              string
	users             userList
	passivePorts      engine.PortRange // zero: not set
	publicHost        string
	tlsCert, tlsKey   string
	implicitListen    string
	tlsRequired       bool
	logFormat         string
	logLevel          slog.Level
	idleTimeout       int
	connectionTimeout int
	shutdownTimeout   time.Duration
	enableHASH        bool
	enableCOMB        bool
	modeZLevel        int
	maxDecompressed   sizeOrNoLimit
	limits            *limitFlags // --limit-*, ratelimit.go
	configFile        string      // --config: run tenancy.Driver from this server file
	setFlags          []string    // flags given explicitly, checked against --config
	hardening         hardening   // TLS and data-connection hardening (tlsflags.go)
	proxy             proxyConfig // proxy.go
	policy            policyConfig
}

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

// sizeOrNoLimit is a conf.Size flag that also takes -1 for "no limit",
// as --max-decompressed-upload always has.
type sizeOrNoLimit conf.Size

// UnmarshalText reads -1 or conf.Size's grammar ("64M", "1G").
func (s *sizeOrNoLimit) UnmarshalText(b []byte) error {
	if strings.TrimSpace(string(b)) == "-1" {
		*s = -1
		return nil
	}
	return (*conf.Size)(s).UnmarshalText(b)
}

// MarshalText writes the size as conf.Size does, -1 as "-1".
func (s sizeOrNoLimit) MarshalText() ([]byte, error) { return conf.Size(s).MarshalText() }

// portRange returns the --passive-ports range, or nil when it was not
// given.
func (c *serveConfig) portRange() *engine.PortRange {
	if c.passivePorts.Start == 0 {
		return nil
	}
	return &c.passivePorts
}

// levelFlag parses --log-level.
type levelFlag struct{ l *slog.Level }

func (f levelFlag) String() string { return "" }

func (f levelFlag) Set(v string) error {
	if err := f.l.UnmarshalText([]byte(v)); err != nil {
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// parseServeFlags turns the arguments of `ftpgate serve` into a config.
func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	cfg := &serveConfig{users: userList{}, logLevel: slog.LevelInfo}
	fs := flag.NewFlagSet("ftpgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:2121", "control connection `address`")
	fs.StringVar(&cfg.root, "root", "ftpgate-data", "`directory` served to every user, created when missing")
	fs.Var(cfg.users, "user", "a user as `NAME:PASSWORD`; repeatable; when given, no demo user is made")
	fs.TextVar(&cfg.passivePorts, "passive-ports", &engine.PortRange{}, "passive data port `range` LOW-HIGH, 1024 to 65535 (default: any port of the ephemeral range)")
	fs.StringVar(&cfg.publicHost, "public-host", "", "IPv4 `address` advertised in PASV replies")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate `file` (default: a self-signed one made at start)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.StringVar(&cfg.implicitListen, "tls-implicit-listen", "", "`address` of an implicit FTPS listener")
	fs.BoolVar(&cfg.tlsRequired, "tls-required", false, "refuse login before AUTH TLS and transfers without PROT P")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `format`: text or json")
	fs.Var(levelFlag{&cfg.logLevel}, "log-level", "log `level`: debug, info, warn or error (default info)")
	fs.IntVar(&cfg.idleTimeout, "idle-timeout", 900, "`seconds` a control connection may stay idle")
	fs.IntVar(&cfg.connectionTimeout, "connection-timeout", 30, "`seconds` to open a data connection or for a stalled transfer")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long running transfers may finish after SIGINT/SIGTERM")
	fs.BoolVar(&cfg.enableHASH, "enable-hash", false, "offer HASH, RANG and the XCRC/XMD5/XSHA* digest commands")
	fs.BoolVar(&cfg.enableCOMB, "enable-comb", false, "offer COMB, which joins uploaded parts into one file")
	fs.IntVar(&cfg.modeZLevel, "mode-z-level", 0, "MODE Z compression `level` 1-9 for clients that choose none (0: zlib's default, 6)")
	fs.TextVar(&cfg.maxDecompressed, "max-decompressed-upload", sizeOrNoLimit(0), "`bytes` one MODE Z upload may expand to, e.g. 64M, K = 1024 (0: 1 GiB, -1: no limit)")
	cfg.limits = addLimitFlags(fs)
	fs.StringVar(&cfg.configFile, "config", "", "server config `file` (TOML) with a tenants directory; replaces the flags above")
	cfg.hardening.register(fs)
	cfg.proxy.register(fs)
	cfg.policy.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { cfg.setFlags = append(cfg.setFlags, f.Name) })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// validate checks what the flag parsers could not check alone.
func (c *serveConfig) validate() error {
	if err := c.checkConfigExclusive(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT", c.listen)
	}
	if c.implicitListen != "" {
		if _, _, err := net.SplitHostPort(c.implicitListen); err != nil {
			return fmt.Errorf("--tls-implicit-listen %q: want HOST:PORT", c.implicitListen)
		}
	}
	if c.publicHost != "" {
		if ip := net.ParseIP(c.publicHost); ip == nil || ip.To4() == nil {
			return fmt.Errorf("--public-host %q: want an IPv4 address", c.publicHost)
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.logFormat)
	}
	if c.idleTimeout < 0 || c.connectionTimeout <= 0 {
		return errors.New("--idle-timeout must be >= 0 (0: none) and --connection-timeout > 0")
	}
	if c.modeZLevel < 0 || c.modeZLevel > 9 {
		return fmt.Errorf("--mode-z-level %d: want 0 to 9", c.modeZLevel)
	}
	if c.maxDecompressed < -1 {
		return errors.New("--max-decompressed-upload must be -1 (no limit), 0 (1 GiB) or a number of bytes")
	}
	if c.shutdownTimeout < 0 {
		return errors.New("--shutdown-timeout must not be negative")
	}
	if c.root == "" {
		return errors.New("--root must not be empty")
	}
	if err := c.hardening.validate(c.portRange() != nil); err != nil {
		return err
	}
	if c.limits != nil {
		if err := c.limits.validate(); err != nil {
			return err
		}
	}
	if err := c.proxy.validate(); err != nil {
		return err
	}
	return c.policy.validate()
}

// settings returns the engine settings the config asks for.
func (c *serveConfig) settings() *engine.Settings {
	st := &engine.Settings{
		ListenAddr:                c.listen,
		ImplicitTLSListenAddr:     c.implicitListen,
		PublicHost:                c.publicHost,
		IdleTimeout:               c.idleTimeout,
		ConnectionTimeout:         c.connectionTimeout,
		Banner:                    "ftpgate",
		EnableHASH:                c.enableHASH,
		EnableCOMB:                c.enableCOMB,
		ModeZLevel:                c.modeZLevel,
		MaxDecompressedUploadSize: int64(c.maxDecompressed),
	}
	if c.idleTimeout == 0 {
		st.IdleTimeout = -1
	}
	if r := c.portRange(); r != nil {
		st.PassiveTransferPortRange = r
	}
	if c.tlsRequired {
		st.TLSRequired = engine.MandatoryEncryption
	}
	c.hardening.apply(st)
	return st
}

// logger returns the slog logger the config asks for, writing to w.
func (c *serveConfig) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// tlsConfig loads the certificate or makes a self-signed one.
func (c *serveConfig) tlsConfig(now time.Time) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if c.tlsCert != "" {
		cert, err = tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	} else if cert, err = selfSignedCertificate(now); err != nil {
		return nil, fmt.Errorf("making a self-signed certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if err := c.hardening.configure(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
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
	log := cfg.logger(stderr)

	root, err := filepath.Abs(cfg.root)
	if err == nil {
		err = os.MkdirAll(root, 0o750)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: --root: %v\n", err)
		return 1
	}
	tlsConfig, err := cfg.tlsConfig(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	users := cfg.users
	if len(users) == 0 {
		users = userList{"demo": randomPassword()}
		fmt.Fprintf(stdout, "ftpgate: user %q password: %s (shown once)\n", "demo", users["demo"])
	}

	jail, err := os.OpenRoot(root)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: --root: %v\n", err)
		return 1
	}
	defer jail.Close()
	fs := rootFs{JailFs: tenancy.NewJailFs(jail)}
	var g *gateway.Gateway
	gcfg, err := cfg.serverConfig()
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 2
	}
	st := cfg.settings()
	cfg.policy.apply(&gcfg, cfg.setFlags)
	policies, err := cfg.policy.startPolicies()
	if err == nil {
		g, err = gateway.New(gcfg, gateway.Options{Logger: log, Driver: newSingleRootDriver(st, tlsConfig, fs, users), Settings: st, Tenant: defaultTenant, Policies: policies})
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate serve: %v\n", err)
		return 1
	}
	announce(g, stdout)
	log.Info("serving", "root", root, "users", len(users))
	// Flags are read once: the --user list, the root and the limits stay
	// as they were. Logs go to stderr, which the process does not reopen;
	// nothing else holds a file.
	reload := func() error {
		log.Info("SIGHUP: nothing to reload without --config; the flags stay in force and serving goes on")
		return nil
	}
	return runGateway(ctx, g, hup, signals, reload, cfg.shutdownTimeout, log)
}
