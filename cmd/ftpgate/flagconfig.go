package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/flagkey"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// flagTenant is the one tenant of flag mode through the gateway.
const flagTenant = defaultTenant

// flagKeys ties every flag of `ftpgate serve` to its key in the server
// file, or, for a flag without one, to the reason (starting "-: "), as
// bindServeFlags registers them. A test walks the flags and gateway.Keys
// against it, so that neither side drifts. Only read.
var flagKeys = bindServeFlags(flag.NewFlagSet("", flag.ContinueOnError), newServeConfig())

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
	f := newServeConfig()
	c, p := &f.Config, &f.ProxyProtocol
	fs := flag.NewFlagSet("ftpgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindServeFlags(fs, f)
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

// newServeConfig is `ftpgate serve`'s config before its flags.
func newServeConfig() *serveConfig {
	f := &serveConfig{Config: gateway.Default(), root: "ftpgate-data", users: userList{}}
	c := &f.Config
	c.Timeouts.Idle = conf.Duration(900 * time.Second)
	c.Limits = ratelimit.Config{LoginWindow: conf.Duration(10 * time.Minute), BanTime: conf.Duration(15 * time.Minute),
		MaxBanTime: conf.Duration(24 * time.Hour), IPv4Prefix: 32, IPv6Prefix: 64}
	c.ProxyProtocol.HeaderTimeout = conf.Duration(proxyproto.DefaultHeaderTimeout)
	c.Audit.Format = "json"
	return f
}

// bindServeFlags registers the flags of `ftpgate serve` on fs, bound onto
// f, each with its server-file key (flagKeys) or the reason it has none;
// their defaults are f's values.
func bindServeFlags(fs *flag.FlagSet, f *serveConfig) map[string]string {
	b := flagkey.New(fs)
	c := &f.Config
	l, p, cl := &c.Limits, &c.ProxyProtocol, &c.Cluster
	b.None("root", "the one tenant's storage; a server file's tenants are in tenants.dir", &f.root, "`directory` served to every user, created when missing")
	b.None("user", "the one tenant's users, hashed at start; a server file's users are in the tenant files, hashed", f.users, "a user as `NAME:PASSWORD`; repeatable; when given, no demo user is made")
	b.None("config", "names the server file itself", &f.configFile, "server config `file` (TOML) with a tenants directory; replaces the flags above")
	b.None("policy", "a policy for the one tenant; with a server file each tenant uploads its own through the admin API", &f.policy.file, "WebAssembly policy `file` to install for the default tenant at start")
	b.None("policy-on-error", "goes with --policy", func(v string) (err error) {
		f.policy.onError, err = policy.ParseOnError(v)
		return err
	}, "decision of --policy when it fails: deny (451, the default) or allow")
	// The flags with a key, one row each: flag, key, field, usage
	// (Binder.Key). The order is free: the help lists flags by name.
	for _, k := range []struct {
		flag, key string
		dst       any
		usage     string
	}{
		{"listen", "listen.control", &c.Listen.Control, "control connection `address`"},
		{"passive-ports", "passive.ports", func(v string) error {
			c.Passive.Ports = new(engine.PortRange)
			return c.Passive.Ports.UnmarshalText([]byte(v))
		}, "passive data port `range` LOW-HIGH, 1024 to 65535 (default: any port of the ephemeral range)"},
		{"public-host", "passive.public_host", &c.Passive.PublicHost, "IPv4 `address` advertised in PASV replies"},
		{"passive-multiplex", "passive.multiplex", &c.Passive.Multiplex, "let clients of different IPs share the --passive-ports (each connection goes to the session that reserved the port for its IP)"},
		{"tls-cert", "tls.cert", &c.TLS.Cert, "PEM certificate `file` (default: a self-signed one made at start; re-read on SIGHUP)"},
		{"tls-key", "tls.key", &c.TLS.Key, "PEM private key `file` for --tls-cert"},
		{"tls-implicit-listen", "listen.implicit_tls", &c.Listen.ImplicitTLS, "`address` of an implicit FTPS listener"},
		{"tls-required", "tls.required", &c.TLS.Required, "refuse login before AUTH TLS and transfers without PROT P"},
		{"tls-session-reuse", "tls.session_reuse", &c.TLS.SessionReuse, "require TLS data connections to resume the control connection's TLS session (as vsftpd's require_ssl_reuse; lftp and curl can, Python's ftplib cannot)"},
		{"tls-ciphers", "tls.ciphers", func(v string) error { c.TLS.Ciphers = []string{v}; return nil }, "comma-separated `list` of TLS 1.2 cipher suites by Go name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (default: Go's)"},
		{"tls-client-ca", "tls.client_ca", &c.TLS.ClientCA, "PEM `file` of CA certificates: a client certificate they sign whose CN or SAN is a --user name logs that user in without a password (re-read on SIGHUP)"},
		{"log-format", "log.format", &c.Log.Format, "log `format`: text or json"},
		{"log-level", "log.level", &c.Log.Level, "log `level`: debug, info, warn or error"},
		{"idle-timeout", "timeouts.idle", (*flagkey.Seconds)(&c.Timeouts.Idle), "`seconds` a control connection may stay idle (0: no limit)"},
		{"connection-timeout", "timeouts.connection", (*flagkey.Seconds)(&c.Timeouts.Connection), "`seconds` to open a data connection or for a stalled transfer"},
		{"shutdown-timeout", "timeouts.shutdown", &c.Timeouts.Shutdown, "how long (a `duration`) running transfers may finish after SIGINT/SIGTERM"},
		{"drain-grace", "timeouts.drain_grace", &c.Timeouts.DrainGrace, "after SIGINT/SIGTERM, how long (a `duration`) /readyz fails while new connections are still accepted, before the listeners close; only with --telemetry-listen; a second signal cuts it short"},
		{"limit-login-delay", "timeouts.login_failure_delay", &c.Timeouts.LoginFailureDelay, "delay (a `duration`) before a failed login is answered (0: none)"},
		{"enable-hash", "commands.hash", &c.Commands.HASH, "offer HASH, RANG and the XCRC/XMD5/XSHA* digest commands"},
		{"enable-comb", "commands.comb", &c.Commands.COMB, "offer COMB, which joins uploaded parts into one file"},
		{"mode-z-level", "commands.mode_z_level", &c.Commands.ModeZLevel, "MODE Z compression `level` 1-9 for clients that choose none (0: zlib's default, 6)"},
		{"max-decompressed-upload", "commands.max_decompressed_upload", (*flagkey.SizeOrNoLimit)(&c.Commands.MaxDecompressedUpload), "`bytes` one MODE Z upload may expand to, e.g. 64M, K = 1024 (0: 1 GiB, -1: no limit)"},
		{"limit-conn-rate", "limits.conn_rate", &l.ConnRate, "new connections per `second` one IP address may open (0: no limit)"},
		{"limit-conn-burst", "limits.conn_burst", &l.ConnBurst, "connections one IP address may open at once above --limit-conn-rate (0: the rate, at least 1)"},
		{"limit-conn-per-ip", "limits.conn_per_ip", &l.MaxConnsPerIP, "connections one IP address may hold at once (0: no limit)"},
		{"limit-conns", "limits.max_conns", &l.MaxConns, "connections the server holds at once (0: no limit)"},
		{"limit-login-failures", "limits.login_failures", &l.LoginFailures, "failed logins within --limit-login-window that get an IP address banned (0: never ban)"},
		{"limit-login-window", "limits.login_window", &l.LoginWindow, "`duration` over which failed logins are forgotten"},
		{"limit-ban", "limits.ban", &l.BanTime, "`duration` of an address's first ban; each repeat doubles it"},
		{"limit-max-ban", "limits.max_ban", &l.MaxBanTime, "longest ban (a `duration`)"},
		{"limit-user-sessions", "limits.user.max_sessions", &l.User.MaxSessions, "logged-in sessions one user may hold at once (0: no limit)"},
		{"limit-command-rate", "limits.user.command_rate", &l.User.CommandRate, "commands per `second` one session may send; faster clients are slowed, then disconnected (0: no limit)"},
		{"limit-bandwidth-down", "limits.user.download_rate", &l.User.DownloadRate, "download `rate` per user, shared by the user's sessions, e.g. 512K or 10M bytes/s, K = 1024 (0: no limit)"},
		{"limit-bandwidth-up", "limits.user.upload_rate", &l.User.UploadRate, "upload `rate` per user, shared by the user's sessions (0: no limit)"},
		{"limit-bandwidth-down-ip", "limits.ip_download_rate", &l.IPDownloadRate, "download `rate` per IP address (0: no limit)"},
		{"limit-bandwidth-up-ip", "limits.ip_upload_rate", &l.IPUploadRate, "upload `rate` per IP address (0: no limit)"},
		{"limit-safe", "limits.safe", func(v string) error {
			_, err := ratelimit.ParseSafeList([]string{v})
			l.Safe = append(l.Safe, v)
			return err
		}, "`CIDR` or address never banned; repeatable"},
		{"limit-ipv4-prefix", "limits.ipv4_prefix", &l.IPv4Prefix, "leading `bits` of an IPv4 address that make one client for the per-address limits (16 to 32)"},
		{"limit-ipv6-prefix", "limits.ipv6_prefix", &l.IPv6Prefix, "leading `bits` of an IPv6 address that make one client for the per-address limits (32 to 128)"},
		{"limit-passive-per-ip", "limits.passive_per_ip", &l.PassivePerIP, "passive ports one IP address (IPv6: one /64) may hold at once (0: min(32, half the passive ports), -1: no limit)"},
		{"limit-passive-per-user", "limits.passive_per_user", &l.PassivePerUser, "passive ports one user may hold at once (0: min(16, a quarter of the passive ports), -1: no limit)"},
		{"proxy-protocol", "proxy_protocol.mode", &p.Mode, "PROXY protocol `mode` on every listener: off, optional or required"},
		{"proxy-trusted", "proxy_protocol.trusted", func(v string) error { p.Trusted = append(p.Trusted, v); return nil }, "balancer `CIDR` (or address) allowed to send PROXY headers; repeatable, needed unless off"},
		{"proxy-untrusted", "proxy_protocol.untrusted", &p.Untrusted, "`action` for a PROXY header from any other peer, which is never believed: reject (drop the connection) or ignore (strip the header)"},
		{"proxy-header-timeout", "proxy_protocol.header_timeout", &p.HeaderTimeout, "how long (a `duration`) a trusted balancer has to send the header"},
		{"proxy-protocol-implicit-tls", "proxy_protocol.implicit_tls_mode", modeInto(&p.ImplicitTLSMode), "PROXY protocol `mode` of the implicit-TLS listener (default: --proxy-protocol's)"},
		{"proxy-protocol-data", "proxy_protocol.data_mode", modeInto(&p.DataMode), "PROXY protocol `mode` of the passive data listeners (default: --proxy-protocol's)"},
		{"proxy-pasv-host", "proxy_protocol.passive_hosts", func(v string) error { p.PassiveHosts = append(p.PassiveHosts, v); return nil }, "advertise this IPv4 in PASV replies to clients inside CIDR (`CIDR=IPv4`); repeatable"},
		{"audit-file", "audit.file", &c.Audit.File, "audit log `file`: one JSON line per login, logout, transfer and change (\"-\": standard error; reopened on SIGUSR1 and SIGHUP)"},
		{"audit-xferlog", "audit.xferlog", &c.Audit.Xferlog, "xferlog `file`: one classic xferlog line per transfer (\"-\": standard error)"},
		{"audit-format", "audit.format", &c.Audit.Format, "audit log `format`: json or text"},
		{"policy-dir", "policy.dir", &c.Policy.Dir, "`directory` where uploaded policies are kept across restarts"},
		{"policy-timeout", "policy.timeout", &c.Policy.Timeout, "deadline (a `duration`) of one policy call"},
		{"policy-memory-pages", "policy.memory_pages", &c.Policy.MemoryPages, "memory limit of a policy instance, in 64 KiB `pages`"},
		{"admin-listen", "admin.listen", &c.Admin.Listen, "`address` of the policy admin HTTP API (off when empty; loopback unless --admin-tls-cert)"},
		{"admin-token-file", "admin.token_file", &c.Admin.TokenFile, "`file` holding the admin API's operator token (else $FTPGATE_ADMIN_TOKEN)"},
		{"admin-tls-cert", "admin.tls_cert", &c.Admin.TLSCert, "PEM certificate `file` to serve the admin API over HTTPS"},
		{"admin-tls-key", "admin.tls_key", &c.Admin.TLSKey, "PEM private key `file` for --admin-tls-cert"},
		{"admin-console", "admin.console", &c.Admin.Console, "serve the web console under /console on the admin listener"},
		{"telemetry-listen", "telemetry.listen", &c.Telemetry.Listen, "`address` of the telemetry listener: /livez, /readyz, /metrics (off when empty; loopback unless --telemetry-tls-cert or --telemetry-token-file)"},
		{"telemetry-token-file", "telemetry.token_file", &c.Telemetry.TokenFile, "`file` holding the bearer token /metrics asks for (at least 16 characters)"},
		{"telemetry-tls-cert", "telemetry.tls_cert", &c.Telemetry.TLSCert, "PEM certificate `file` to serve the telemetry listener over HTTPS"},
		{"telemetry-tls-key", "telemetry.tls_key", &c.Telemetry.TLSKey, "PEM private key `file` for --telemetry-tls-cert"},
		{"telemetry-max-tenant-labels", "telemetry.max_tenant_labels", &c.Telemetry.MaxTenantLabels, "distinct tenants that get a metrics label of their own; later ones share \"other\" (1 to 10000)"},
		{"cluster-redis", "cluster.redis", &cl.Redis, "Redis `address` HOST:PORT shared by the instances of a cluster (off when empty)"},
		{"cluster-username", "cluster.username", &cl.Username, "Redis ACL `user` (default: Redis's default user)"},
		{"cluster-password-file", "cluster.password_file", &cl.PasswordFile, "`file` holding Redis's password (else $FTPGATE_REDIS_PASSWORD)"},
		{"cluster-tls", "cluster.tls", &cl.TLS, "speak TLS to Redis"},
		{"cluster-tls-ca", "cluster.tls_ca", &cl.TLSCA, "PEM `file` of the CAs that sign Redis's certificate (default: the system's)"},
		{"cluster-prefix", "cluster.prefix", &cl.Prefix, "`prefix` of every Redis key and channel of this cluster"},
		{"cluster-instance-id", "cluster.instance_id", &cl.InstanceID, "this instance's `id` in the cluster (default: the host name and a random suffix)"},
		{"cluster-deadline", "cluster.deadline", &cl.Deadline, "deadline (a `duration`) of each Redis call"},
		{"cluster-lease", "cluster.lease", &cl.Lease, "how long (a `duration`) an instance stays registered without a heartbeat"},
		{"cluster-fanout", "cluster.fanout", &cl.Fanout, "bound (a `duration`) of a cluster-wide admin request; instances slower are reported missing"},
		{"cluster-fail-bans", "cluster.fail.bans", &cl.Fail.Bans, "`mode` of shared bans while Redis fails: open (local state) or closed (refuse)"},
		{"cluster-fail-sessions", "cluster.fail.sessions", &cl.Fail.Sessions, "`mode` of shared session counts while Redis fails: open or closed"},
		{"cluster-fail-rates", "cluster.fail.rates", &cl.Fail.Rates, "`mode` of shared rates while Redis fails: open or closed"},
		{"cluster-fail-quota", "cluster.fail.quota", &cl.Fail.Quota, "`mode` of shared quota usage while Redis fails: open or closed"},
		{"cluster-fail-policies", "cluster.fail.policies", &cl.Fail.Policies, "`mode` of the shared policy store while Redis fails: open or closed"},
	} {
		b.Key(k.flag, k.key, k.dst, k.usage)
	}
	return b.Keys()
}

// flagErrors names flags where err names keys (flagkey.Errors).
func flagErrors(err error) error { return flagkey.Errors(flagKeys, err) }

// modeInto parses a PROXY protocol mode into *dst.
func modeInto(dst **proxyproto.Mode) func(string) error {
	return func(v string) error {
		m := new(proxyproto.Mode)
		*dst = m
		return m.UnmarshalText([]byte(v))
	}
}

// gatewayConfig is the flags' gateway.Config with its one tenant
// (flagTenant, Config.OneTenant): --root, with users.
func (c *serveConfig) gatewayConfig(users userList) (gateway.Config, error) {
	cfg, err := c.Config.OneTenant(flagTenant, c.root, users)
	if err != nil {
		return cfg, err
	}
	return cfg, flagErrors(cfg.Validate())
}
