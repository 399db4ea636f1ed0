package main

import (
	"fmt"
	"github.com/ftpgate/ftpgate/engine/conf"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
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
}

// keysWithoutFlag are the server file's keys no flag sets, with the
// reason; every key under limits. that is not in flagKeys is a fine limit
// or an override table, for the file only.
var keysWithoutFlag = map[string]string{
	"tenants.dir":     "flag mode serves one tenant, made from --root and --user",
	"tenants.default": "flag mode's one tenant is the default",
}

// serverConfig maps the serve flags but --root and --user onto a
// gateway.Config without tenants: what `ftpgate serve` runs the gateway
// with, over its single-directory driver.
func (c *serveConfig) serverConfig() (gateway.Config, error) {
	cfg := gateway.Default()
	cfg.Listen = gateway.ListenConfig{Control: c.listen, ImplicitTLS: c.implicitListen}
	cfg.TLS = gateway.TLSConfig{Cert: c.tlsCert, Key: c.tlsKey, Required: c.tlsRequired, SessionReuse: c.hardening.sessionReuse, ClientCA: c.hardening.clientCA}
	if c.hardening.ciphers != "" {
		cfg.TLS.Ciphers = []string{c.hardening.ciphers}
	}
	cfg.Passive = gateway.PassiveConfig{PublicHost: c.publicHost, Multiplex: c.hardening.multiplex}
	if r := c.portRange(); r != nil {
		cfg.Passive.Ports = fmt.Sprintf("%d-%d", r.Start, r.End)
	}
	cfg.Timeouts = gateway.TimeoutsConfig{
		Idle:       conf.Duration(time.Duration(c.idleTimeout) * time.Second),
		Connection: conf.Duration(time.Duration(c.connectionTimeout) * time.Second),
		Shutdown:   conf.Duration(c.shutdownTimeout),
	}
	cfg.Log = gateway.LogConfig{Format: c.logFormat, Level: levelName(c)}
	cfg.Commands = gateway.CommandsConfig{HASH: c.enableHASH, COMB: c.enableCOMB, ModeZLevel: c.modeZLevel, MaxDecompressedUpload: int64(c.maxDecompressed)}
	if c.proxy.section().On() {
		cfg.ProxyProtocol = c.proxy.section()
	}
	if c.limits != nil {
		cfg.Limits = c.limits.config()
		cfg.Timeouts.LoginFailureDelay = c.limits.loginDelay
	}
	return cfg, cfg.Validate()
}

// gatewayConfig maps the serve flags onto a gateway.Config: one tenant
// (flagTenant) whose storage is --root on the os backend, the jail every
// tenant has, with users (password hashed with argon2id here: each costs
// one hash at start) and every other flag on its key (flagKeys). It is the
// start of flag mode through the gateway (issue 12): serve does not use it
// yet: it serves through its single-directory driver (serverConfig).
func (c *serveConfig) gatewayConfig(users userList) (gateway.Config, error) {
	cfg, err := c.serverConfig()
	if err != nil {
		return cfg, err
	}
	// tenancy delays failed logins (timeouts.login_failure_delay).
	cfg.Limits.FailedLoginDelay = -1
	root, err := filepath.Abs(c.root)
	if err != nil {
		return cfg, err
	}
	t := &tenancy.TenantConfig{File: "--root", ID: flagTenant, Storage: tenancy.StorageConfig{Backend: tenancy.BackendOS, Dir: root}}
	for _, name := range slices.Sorted(maps.Keys(users)) {
		hash, err := tenancy.HashPasswordArgon2id(users[name], tenancy.DefaultArgon2Params())
		if err != nil {
			return cfg, err
		}
		t.Users = append(t.Users, &tenancy.UserConfig{Name: name, PasswordHash: hash, Home: "/"})
	}
	cfg.Tenants.Default = flagTenant
	server := cfg.TenancyServer()
	// File names the source in tenancy's errors ("flags: tls: ...").
	cfg.Tenancy = &tenancy.Config{File: "flags", Server: server, Tenants: []*tenancy.TenantConfig{t}}
	return cfg, cfg.Validate()
}

// levelName is --log-level as the server file spells it.
func levelName(c *serveConfig) string {
	switch {
	case c.logLevel < -2:
		return "debug"
	case c.logLevel < 2:
		return "info"
	case c.logLevel < 6:
		return "warn"
	}
	return "error"
}
