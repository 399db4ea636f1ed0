package tenancy

// The server file's schema belongs to the gateway (cmd/ftpgate/gateway),
// which tenancy cannot import. This is a reader of the part of it that
// tenancy's tests use, so that they can keep writing server files: the
// [listen], [tls], [passive], [timeouts], [log] and [tenants] tables.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/conf/conftoml"
	"github.com/ftpgate/ftpgate/ratelimit"
)

type rawServer struct {
	Listen struct {
		Control     string `toml:"control"`
		ImplicitTLS string `toml:"implicit_tls"`
	} `toml:"listen"`
	TLS struct {
		Cert     string `toml:"cert"`
		Key      string `toml:"key"`
		Required bool   `toml:"required"`
	} `toml:"tls"`
	Passive struct {
		Ports      string `toml:"ports"`
		PublicHost string `toml:"public_host"`
	} `toml:"passive"`
	Timeouts struct {
		Idle              *string `toml:"idle"`
		Connection        *string `toml:"connection"`
		Shutdown          *string `toml:"shutdown"`
		LoginFailureDelay *string `toml:"login_failure_delay"`
	} `toml:"timeouts"`
	Log struct {
		Format string `toml:"format"`
		Level  string `toml:"level"`
	} `toml:"log"`
	Tenants struct {
		Dir     string `toml:"dir"`
		Default string `toml:"default"`
	} `toml:"tenants"`
	Limits ratelimit.Config `toml:"limits"`
}

// LoadConfig reads and validates the server file at path and every tenant
// file of its tenants directory. The error, when not nil, is a
// conf.Errors listing every problem found.
func LoadConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, conf.Errors{{File: path, Msg: err.Error()}}
	}
	var errs conf.Errors
	data, err := readConfigFile(abs)
	if err != nil {
		return nil, conf.Errors{{File: abs, Msg: err.Error()}}
	}
	cfg := &Config{File: abs}
	srv, _ := ParseServerConfig(abs, data, &errs)
	if srv == nil {
		return nil, errs
	}
	cfg.Server = *srv
	if srv.TenantsDir != "" {
		cfg.Tenants = loadTenantDir(srv.TenantsDir, abs, &errs)
	}
	checkTenantSet(cfg, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// ParseServerConfig parses the server file's content; file names it in
// errors and anchors relative paths. Problems are appended to errs; ok is
// false when there was any. cfg is nil only when the file is not TOML.
func ParseServerConfig(file string, data []byte, errs *conf.Errors) (cfg *ServerConfig, ok bool) {
	before := len(*errs)
	sink := &conf.Sink{File: file, Lines: conf.ScanKeyLines(string(data)), Errs: errs}
	var raw rawServer
	if !conftoml.Decode(sink, string(data), &raw) {
		return nil, false
	}
	dir := filepath.Dir(file)
	c := &ServerConfig{
		Listen:            orDefault(raw.Listen.Control, "127.0.0.1:2121"),
		ImplicitTLSListen: raw.Listen.ImplicitTLS,
		TLSRequired:       raw.TLS.Required,
		PublicHost:        raw.Passive.PublicHost,
		LogFormat:         orDefault(raw.Log.Format, "text"),
		LogLevel:          orDefault(raw.Log.Level, "info"),
		DefaultTenant:     raw.Tenants.Default,
	}
	checkAddr(sink, "listen.control", c.Listen)
	if c.ImplicitTLSListen != "" {
		checkAddr(sink, "listen.implicit_tls", c.ImplicitTLSListen)
	}
	if (raw.TLS.Cert == "") != (raw.TLS.Key == "") {
		sink.Add("tls", "cert and key go together: give both PEM files or neither (a self-signed certificate)")
	}
	c.TLSCert = checkReadable(sink, "tls.cert", dir, raw.TLS.Cert)
	c.TLSKey = checkReadable(sink, "tls.key", dir, raw.TLS.Key)
	if raw.Passive.Ports != "" {
		lo, hi, err := parsePortRange(raw.Passive.Ports)
		if err != nil {
			sink.Add("passive.ports", "%v", err)
		}
		c.PassivePortLow, c.PassivePortHigh = lo, hi
	}
	if c.PublicHost != "" {
		if a, err := netip.ParseAddr(c.PublicHost); err != nil || !a.Is4() {
			sink.Add("passive.public_host", "%q is not an IPv4 address: PASV can only advertise IPv4", c.PublicHost)
		}
	}
	c.IdleTimeout = durationKey(sink, "timeouts.idle", raw.Timeouts.Idle, 15*time.Minute, true)
	c.ConnectionTimeout = durationKey(sink, "timeouts.connection", raw.Timeouts.Connection, 30*time.Second, false)
	c.ShutdownTimeout = durationKey(sink, "timeouts.shutdown", raw.Timeouts.Shutdown, 30*time.Second, true)
	c.LoginFailureDelay = durationKey(sink, "timeouts.login_failure_delay", raw.Timeouts.LoginFailureDelay, time.Second, true)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		sink.Add("log.format", "%q: want text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		sink.Add("log.level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if raw.Tenants.Dir == "" {
		sink.Add("tenants.dir", "missing: want the directory holding one TOML file per tenant")
	} else {
		c.TenantsDir = absUnder(dir, raw.Tenants.Dir)
		if fi, err := os.Stat(c.TenantsDir); err != nil || !fi.IsDir() {
			sink.Add("tenants.dir", "%q is not a readable directory", raw.Tenants.Dir)
			c.TenantsDir = ""
		}
	}
	if c.DefaultTenant != "" {
		if err := conf.ValidTenantID(c.DefaultTenant); err != nil {
			sink.Add("tenants.default", "%v", err)
		}
	}
	c.Limits = raw.Limits
	if err := c.Limits.Validate(); err != nil {
		sink.Add("limits", "%v", err)
	}
	return c, len(*errs) == before
}

// checkAddr checks a HOST:PORT address.
func checkAddr(sink *conf.Sink, key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		sink.Add(key, "%q: want HOST:PORT, like \"0.0.0.0:21\"", addr)
	}
}

// parsePortRange parses "LOW-HIGH".
func parsePortRange(v string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(v, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: want LOW-HIGH, like \"50000-50100\"", v)
	}
	if lo < 1024 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q: want 1024 <= LOW <= HIGH <= 65535", v)
	}
	return lo, hi, nil
}

// durationKey parses an optional duration ("30s", "15m"); zeroOK allows
// "0" (meaning none).
func durationKey(sink *conf.Sink, key string, v *string, def time.Duration, zeroOK bool) time.Duration {
	if v == nil {
		return def
	}
	d, err := time.ParseDuration(*v)
	switch {
	case err != nil:
		sink.Add(key, "%q: want a duration like \"30s\" or \"15m\"", *v)
	case d < 0 || (d == 0 && !zeroOK):
		sink.Add(key, "%q: want a positive duration", *v)
	case d > 24*time.Hour:
		sink.Add(key, "%q: want at most 24h", *v)
	}
	return d
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
