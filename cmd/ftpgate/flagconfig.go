package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/tenancy"
)

// flagTenant is the one tenant of flag mode through the gateway.
const flagTenant = defaultTenant

// flagKeys ties every flag of `ftpgate serve` to its key in the server
// file, or, for a flag without one, to the reason (starting "-: "). A test
// walks the flags and gateway.Keys against it, so that neither side
// drifts.
var flagKeys = map[string]string{
	"listen":                      "listen.control",
	"tls-implicit-listen":         "listen.implicit_tls",
	"tls-cert":                    "tls.cert",
	"tls-key":                     "tls.key",
	"tls-required":                "tls.required",
	"tls-ciphers":                 "tls.ciphers",
	"tls-session-reuse":           "tls.session_reuse",
	"passive-ports":               "passive.ports",
	"public-host":                 "passive.public_host",
	"passive-multiplex":           "passive.multiplex",
	"idle-timeout":                "timeouts.idle",
	"connection-timeout":          "timeouts.connection",
	"shutdown-timeout":            "timeouts.shutdown",
	"drain-grace":                 "timeouts.drain_grace",
	"limit-login-delay":           "timeouts.login_failure_delay",
	"log-format":                  "log.format",
	"log-level":                   "log.level",
	"enable-hash":                 "commands.hash",
	"enable-comb":                 "commands.comb",
	"mode-z-level":                "commands.mode_z_level",
	"max-decompressed-upload":     "commands.max_decompressed_upload",
	"limit-conn-rate":             "limits.conn_rate",
	"limit-conn-burst":            "limits.conn_burst",
	"limit-conn-per-ip":           "limits.conn_per_ip",
	"limit-conns":                 "limits.max_conns",
	"limit-login-failures":        "limits.login_failures",
	"limit-login-window":          "limits.login_window",
	"limit-ban":                   "limits.ban",
	"limit-max-ban":               "limits.max_ban",
	"limit-user-sessions":         "limits.user.max_sessions",
	"limit-command-rate":          "limits.user.command_rate",
	"limit-bandwidth-down":        "limits.user.download_rate",
	"limit-bandwidth-up":          "limits.user.upload_rate",
	"limit-bandwidth-down-ip":     "limits.ip_download_rate",
	"limit-bandwidth-up-ip":       "limits.ip_upload_rate",
	"limit-safe":                  "limits.safe",
	"limit-ipv4-prefix":           "limits.ipv4_prefix",
	"limit-ipv6-prefix":           "limits.ipv6_prefix",
	"limit-passive-per-ip":        "limits.passive_per_ip",
	"limit-passive-per-user":      "limits.passive_per_user",
	"proxy-protocol":              "proxy_protocol.mode",
	"proxy-protocol-implicit-tls": "proxy_protocol.implicit_tls_mode",
	"proxy-protocol-data":         "proxy_protocol.data_mode",
	"proxy-trusted":               "proxy_protocol.trusted",
	"proxy-untrusted":             "proxy_protocol.untrusted",
	"proxy-header-timeout":        "proxy_protocol.header_timeout",
	"proxy-pasv-host":             "proxy_protocol.passive_hosts",

	"config":              "-: names the server file itself",
	"root":                "-: the one tenant's storage; a server file's tenants are in tenants.dir",
	"user":                "-: the one tenant's users, hashed at start; a server file's users are in the tenant files, hashed",
	"tls-client-ca":       "tls.client_ca",
	"policy":              "-: a policy for the one tenant; with a server file each tenant uploads its own through the admin API",
	"policy-dir":          "policy.dir",
	"policy-on-error":     "-: goes with --policy",
	"policy-timeout":      "policy.timeout",
	"policy-memory-pages": "policy.memory_pages",
	"admin-listen":        "admin.listen",
	"admin-token-file":    "admin.token_file",
	"admin-tls-cert":      "admin.tls_cert",
	"admin-tls-key":       "admin.tls_key",

	"telemetry-listen":            "telemetry.listen",
	"telemetry-token-file":        "telemetry.token_file",
	"telemetry-tls-cert":          "telemetry.tls_cert",
	"telemetry-tls-key":           "telemetry.tls_key",
	"telemetry-max-tenant-labels": "telemetry.max_tenant_labels",
}

// keysWithoutFlag are the server file's keys no flag sets, with the
// reason; every key under limits. that is not in flagKeys is a fine limit
// or an override table, for the file only.
var keysWithoutFlag = map[string]string{
	"tenants.dir":     "flag mode serves one tenant, made from --root and --user",
	"tenants.default": "flag mode's one tenant is the default",
}

// serveConfig is what `ftpgate serve` was given: the flags that have a
// server-file key are bound straight onto the gateway.Config's fields
// (flagKeys), the others are beside it.
type serveConfig struct {
	gateway.Config
	root       string
	users      userList
	configFile string   // --config: run the server file instead
	setFlags   []string // flags given explicitly, checked against --config
	policy     policyFlag
}

// parseServeFlags turns the arguments of `ftpgate serve` into a config,
// checked as a server file is (Config.Validate), its errors naming the
// flags.
func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	f := &serveConfig{Config: gateway.Default(), root: "ftpgate-data", users: userList{}}
	c := &f.Config
	c.Timeouts.Idle = conf.Duration(900 * time.Second)
	c.Limits = ratelimit.Config{LoginWindow: conf.Duration(10 * time.Minute), BanTime: conf.Duration(15 * time.Minute),
		MaxBanTime: conf.Duration(24 * time.Hour), IPv4Prefix: 32, IPv6Prefix: 64}
	c.ProxyProtocol.HeaderTimeout = conf.Duration(proxyproto.DefaultHeaderTimeout)
	l, p := &c.Limits, &c.ProxyProtocol
	fs := flag.NewFlagSet("ftpgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen.Control, "listen", c.Listen.Control, "control connection `address`")
	fs.StringVar(&f.root, "root", f.root, "`directory` served to every user, created when missing")
	fs.Var(f.users, "user", "a user as `NAME:PASSWORD`; repeatable; when given, no demo user is made")
	fs.Func("passive-ports", "passive data port `range` LOW-HIGH, 1024 to 65535 (default: any port of the ephemeral range)", func(v string) error {
		c.Passive.Ports = new(engine.PortRange)
		return c.Passive.Ports.UnmarshalText([]byte(v))
	})
	fs.StringVar(&c.Passive.PublicHost, "public-host", "", "IPv4 `address` advertised in PASV replies")
	fs.BoolVar(&c.Passive.Multiplex, "passive-multiplex", false, "let clients of different IPs share the --passive-ports (each connection goes to the session that reserved the port for its IP)")
	fs.StringVar(&c.TLS.Cert, "tls-cert", "", "PEM certificate `file` (default: a self-signed one made at start; re-read on SIGHUP)")
	fs.StringVar(&c.TLS.Key, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.StringVar(&c.Listen.ImplicitTLS, "tls-implicit-listen", "", "`address` of an implicit FTPS listener")
	fs.BoolVar(&c.TLS.Required, "tls-required", false, "refuse login before AUTH TLS and transfers without PROT P")
	fs.BoolVar(&c.TLS.SessionReuse, "tls-session-reuse", false, "require TLS data connections to resume the control connection's TLS session (as vsftpd's require_ssl_reuse; lftp and curl can, Python's ftplib cannot)")
	fs.Func("tls-ciphers", "comma-separated `list` of TLS 1.2 cipher suites by Go name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (default: Go's)",
		func(v string) error { c.TLS.Ciphers = []string{v}; return nil })
	fs.StringVar(&c.TLS.ClientCA, "tls-client-ca", "", "PEM `file` of CA certificates: a client certificate they sign whose CN or SAN is a --user name logs that user in without a password (re-read on SIGHUP)")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "log `format`: text or json")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "log `level`: debug, info, warn or error")
	fs.Var((*seconds)(&c.Timeouts.Idle), "idle-timeout", "`seconds` a control connection may stay idle (0: no limit)")
	fs.Var((*seconds)(&c.Timeouts.Connection), "connection-timeout", "`seconds` to open a data connection or for a stalled transfer")
	fs.TextVar(&c.Timeouts.Shutdown, "shutdown-timeout", c.Timeouts.Shutdown, "how long (a `duration`) running transfers may finish after SIGINT/SIGTERM")
	fs.TextVar(&c.Timeouts.DrainGrace, "drain-grace", c.Timeouts.DrainGrace, "after SIGINT/SIGTERM, how long (a `duration`) /readyz fails while new connections are still accepted, before the listeners close; only with --telemetry-listen; a second signal cuts it short")
	fs.TextVar(&c.Timeouts.LoginFailureDelay, "limit-login-delay", c.Timeouts.LoginFailureDelay, "delay (a `duration`) before a failed login is answered (0: none)")
	fs.BoolVar(&c.Commands.HASH, "enable-hash", false, "offer HASH, RANG and the XCRC/XMD5/XSHA* digest commands")
	fs.BoolVar(&c.Commands.COMB, "enable-comb", false, "offer COMB, which joins uploaded parts into one file")
	fs.IntVar(&c.Commands.ModeZLevel, "mode-z-level", 0, "MODE Z compression `level` 1-9 for clients that choose none (0: zlib's default, 6)")
	fs.TextVar((*sizeOrNoLimit)(&c.Commands.MaxDecompressedUpload), "max-decompressed-upload", sizeOrNoLimit(0), "`bytes` one MODE Z upload may expand to, e.g. 64M, K = 1024 (0: 1 GiB, -1: no limit)")

	fs.Float64Var(&l.ConnRate, "limit-conn-rate", 0, "new connections per `second` one IP address may open (0: no limit)")
	fs.IntVar(&l.ConnBurst, "limit-conn-burst", 0, "connections one IP address may open at once above --limit-conn-rate (0: the rate, at least 1)")
	fs.IntVar(&l.MaxConnsPerIP, "limit-conn-per-ip", 0, "connections one IP address may hold at once (0: no limit)")
	fs.IntVar(&l.MaxConns, "limit-conns", 0, "connections the server holds at once (0: no limit)")
	fs.IntVar(&l.LoginFailures, "limit-login-failures", 0, "failed logins within --limit-login-window that get an IP address banned (0: never ban)")
	fs.TextVar(&l.LoginWindow, "limit-login-window", l.LoginWindow, "`duration` over which failed logins are forgotten")
	fs.TextVar(&l.BanTime, "limit-ban", l.BanTime, "`duration` of an address's first ban; each repeat doubles it")
	fs.TextVar(&l.MaxBanTime, "limit-max-ban", l.MaxBanTime, "longest ban (a `duration`)")
	fs.IntVar(&l.User.MaxSessions, "limit-user-sessions", 0, "logged-in sessions one user may hold at once (0: no limit)")
	fs.Float64Var(&l.User.CommandRate, "limit-command-rate", 0, "commands per `second` one session may send; faster clients are slowed, then disconnected (0: no limit)")
	fs.TextVar(&l.User.DownloadRate, "limit-bandwidth-down", conf.Rate(0), "download `rate` per user, shared by the user's sessions, e.g. 512K or 10M bytes/s, K = 1024 (0: no limit)")
	fs.TextVar(&l.User.UploadRate, "limit-bandwidth-up", conf.Rate(0), "upload `rate` per user, shared by the user's sessions (0: no limit)")
	fs.TextVar(&l.IPDownloadRate, "limit-bandwidth-down-ip", conf.Rate(0), "download `rate` per IP address (0: no limit)")
	fs.TextVar(&l.IPUploadRate, "limit-bandwidth-up-ip", conf.Rate(0), "upload `rate` per IP address (0: no limit)")
	fs.Func("limit-safe", "`CIDR` or address never banned; repeatable", func(v string) error {
		_, err := ratelimit.ParseSafeList([]string{v})
		l.Safe = append(l.Safe, v)
		return err
	})
	fs.IntVar(&l.IPv4Prefix, "limit-ipv4-prefix", l.IPv4Prefix, "leading `bits` of an IPv4 address that make one client for the per-address limits (16 to 32)")
	fs.IntVar(&l.IPv6Prefix, "limit-ipv6-prefix", l.IPv6Prefix, "leading `bits` of an IPv6 address that make one client for the per-address limits (32 to 128)")
	fs.IntVar(&l.PassivePerIP, "limit-passive-per-ip", 0, "passive ports one IP address (IPv6: one /64) may hold at once (0: min(32, half the passive ports), -1: no limit)")
	fs.IntVar(&l.PassivePerUser, "limit-passive-per-user", 0, "passive ports one user may hold at once (0: min(16, a quarter of the passive ports), -1: no limit)")

	fs.TextVar(&p.Mode, "proxy-protocol", proxyproto.Off, "PROXY protocol `mode` on every listener: off, optional or required")
	fs.Func("proxy-trusted", "balancer `CIDR` (or address) allowed to send PROXY headers; repeatable, needed unless off", func(v string) error { p.Trusted = append(p.Trusted, v); return nil })
	fs.TextVar(&p.Untrusted, "proxy-untrusted", proxyproto.Reject, "`action` for a PROXY header from any other peer, which is never believed: reject (drop the connection) or ignore (strip the header)")
	fs.TextVar(&p.HeaderTimeout, "proxy-header-timeout", p.HeaderTimeout, "how long (a `duration`) a trusted balancer has to send the header")
	fs.Func("proxy-protocol-implicit-tls", "PROXY protocol `mode` of the implicit-TLS listener (default: --proxy-protocol's)", modeInto(&p.ImplicitTLSMode))
	fs.Func("proxy-protocol-data", "PROXY protocol `mode` of the passive data listeners (default: --proxy-protocol's)", modeInto(&p.DataMode))
	fs.Func("proxy-pasv-host", "advertise this IPv4 in PASV replies to clients inside CIDR (`CIDR=IPv4`); repeatable", func(v string) error { p.PassiveHosts = append(p.PassiveHosts, v); return nil })

	fs.StringVar(&f.configFile, "config", "", "server config `file` (TOML) with a tenants directory; replaces the flags above")
	fs.StringVar(&c.Policy.Dir, "policy-dir", c.Policy.Dir, "`directory` where uploaded policies are kept across restarts")
	fs.TextVar(&c.Policy.Timeout, "policy-timeout", c.Policy.Timeout, "deadline (a `duration`) of one policy call")
	fs.IntVar(&c.Policy.MemoryPages, "policy-memory-pages", c.Policy.MemoryPages, "memory limit of a policy instance, in 64 KiB `pages`")
	fs.StringVar(&c.Admin.Listen, "admin-listen", "", "`address` of the policy admin HTTP API (off when empty; loopback unless --admin-tls-cert)")
	fs.StringVar(&c.Admin.TokenFile, "admin-token-file", "", "`file` holding the admin API's operator token (else $FTPGATE_ADMIN_TOKEN)")
	fs.StringVar(&c.Admin.TLSCert, "admin-tls-cert", "", "PEM certificate `file` to serve the admin API over HTTPS")
	fs.StringVar(&c.Admin.TLSKey, "admin-tls-key", "", "PEM private key `file` for --admin-tls-cert")
	f.policy.register(fs)
	registerTelemetryFlags(fs, &c.Telemetry)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.setFlags = append(f.setFlags, fl.Name) })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := f.checkConfigExclusive(); err != nil {
		return nil, err
	}
	if f.root == "" {
		return nil, errors.New("--root must not be empty")
	}
	if !p.On() && (len(p.Trusted) > 0 || len(p.PassiveHosts) > 0) {
		return nil, errors.New("--proxy-trusted and --proxy-pasv-host need --proxy-protocol optional or required")
	}
	return f, flagErrors(c.Validate())
}

// flagErrors names the flags in a Config's validation errors, one a
// line: every key a line names becomes its flag (flagKeys read
// backwards).
func flagErrors(err error) error {
	var es conf.Errors
	if !errors.As(err, &es) {
		return err
	}
	// Longer keys first, so that no key is replaced inside a longer one.
	keys := slices.SortedFunc(maps.Keys(flagKeys), func(a, b string) int { return len(flagKeys[b]) - len(flagKeys[a]) })
	var pairs []string
	for _, fl := range keys {
		if key := flagKeys[fl]; !strings.HasPrefix(key, "-: ") {
			pairs = append(pairs, key, "--"+fl)
		}
	}
	toFlags := strings.NewReplacer(pairs...)
	lines := make([]string, 0, len(es))
	for _, e := range es {
		line := e.Key + ": " + e.Msg
		// ratelimit names its key at the start of the message.
		if k, rest, ok := strings.Cut(e.Msg, ": "); ok && e.Key == "limits" && !strings.ContainsAny(k, " \"") {
			line = "limits." + k + ": " + rest
		}
		lines = append(lines, toFlags.Replace(line))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// modeInto parses a PROXY protocol mode into *dst.
func modeInto(dst **proxyproto.Mode) func(string) error {
	return func(v string) error {
		m := new(proxyproto.Mode)
		*dst = m
		return m.UnmarshalText([]byte(v))
	}
}

// seconds is a conf.Duration flag in whole seconds, as --idle-timeout
// and --connection-timeout have always been.
type seconds conf.Duration

func (s *seconds) String() string { return strconv.FormatInt(int64(time.Duration(*s)/time.Second), 10) }

func (s *seconds) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return errors.New("want a number of seconds")
	}
	*s = seconds(time.Duration(n) * time.Second)
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

// gatewayConfig is the flags' gateway.Config with its one tenant
// (flagTenant, tenancy.OneTenant): --root, with users.
func (c *serveConfig) gatewayConfig(users userList) (gateway.Config, error) {
	cfg := c.Config
	// tenancy delays failed logins (timeouts.login_failure_delay).
	cfg.Limits.FailedLoginDelay = -1
	t, err := tenancy.OneTenant("--root", flagTenant, c.root, users)
	if err != nil {
		return cfg, fmt.Errorf("--user: %w", err)
	}
	cfg.Tenants.Default = flagTenant
	server := cfg.TenancyServer()
	// File names the source in tenancy's errors ("flags: tls: ...").
	cfg.Tenancy = &tenancy.Config{File: "flags", Server: server, Tenants: []*tenancy.TenantConfig{t}}
	return cfg, flagErrors(cfg.Validate())
}
