package gateway

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/telemetry"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/conf/conftoml"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/tenancy"
)

// Config is the server file's schema: the server's own keys, and one
// section per plugin whose type is that plugin's configuration
// ([proxy_protocol]: proxyproto.Section, [limits]: ratelimit.Config,
// [tenants] and timeouts.login_failure_delay: tenancy). Default returns
// its defaults; Load and Parse fill it from a file. Paths in it are
// absolute, resolved against the directory of the server file.
type Config struct {
	// File is the server file's absolute path ("" when the Config was
	// not read from a file).
	File string `toml:"-"`

	Listen        ListenConfig       `toml:"listen"`
	TLS           TLSConfig          `toml:"tls"`
	Passive       PassiveConfig      `toml:"passive"`
	Timeouts      TimeoutsConfig     `toml:"timeouts"`
	Log           LogConfig          `toml:"log"`
	Commands      CommandsConfig     `toml:"commands"`
	Tenants       TenantsConfig      `toml:"tenants"`
	ProxyProtocol proxyproto.Section `toml:"proxy_protocol"`
	Limits        ratelimit.Config   `toml:"limits"`
	Policy        PolicyConfig       `toml:"policy"`
	Admin         AdminConfig        `toml:"admin"`
	Audit         audit.Config       `toml:"audit"`
	Telemetry     telemetry.Config   `toml:"telemetry"`
	Cluster       cluster.Config     `toml:"cluster"`

	// Tenancy is the tenants read from Tenants.Dir by Load, with the
	// server settings tenancy uses; nil until then.
	Tenancy *tenancy.Config `toml:"-"`
}

// ListenConfig is [listen]: the addresses of the listeners.
type ListenConfig struct {
	// Control is the control connection address, HOST:PORT.
	Control string `toml:"control"`
	// ImplicitTLS is the address of an implicit FTPS listener, or "".
	ImplicitTLS string `toml:"implicit_tls"`
}

// TLSConfig is [tls].
type TLSConfig struct {
	// Cert and Key are the default certificate's PEM files; both empty
	// means a self-signed certificate made at start.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Required refuses login before AUTH TLS for every tenant.
	Required bool `toml:"required"`
	// Ciphers are TLS 1.2 cipher suites by Go name (ParseCipherList);
	// none means Go's defaults.
	Ciphers []string `toml:"ciphers"`
	// SessionReuse requires TLS data connections to resume the control
	// connection's TLS session.
	SessionReuse bool `toml:"session_reuse"`
	// ClientCA is a PEM file of CA certificates: a client certificate
	// they sign that names an account (USER@TENANT, or USER for the
	// default tenant) logs it in without a password; "" asks for none.
	ClientCA string `toml:"client_ca"`
}

// PassiveConfig is [passive].
type PassiveConfig struct {
	// Ports is the passive port range, "LOW-HIGH" in the file and the
	// flag (engine.PortRange's grammar: 1024 to 65535); nil lets the
	// engine use the ephemeral range. A pointer: a PortRange holds a
	// counter and is not copied with the Config.
	Ports *engine.PortRange `toml:"ports"`
	// PublicHost is the IPv4 address advertised in PASV replies, or "".
	PublicHost string `toml:"public_host"`
	// Multiplex lets clients of different addresses share Ports (each
	// data connection goes to the session that reserved the port for its
	// address).
	Multiplex bool `toml:"multiplex"`
}

// TimeoutsConfig is [timeouts]. Each is at most maxTimeout.
type TimeoutsConfig struct {
	// Idle is how long a control connection may stay idle; 0: no limit.
	Idle conf.Duration `toml:"idle"`
	// Connection bounds opening a data connection and a stalled transfer.
	Connection conf.Duration `toml:"connection"`
	// Shutdown is how long running transfers may finish at shutdown.
	Shutdown conf.Duration `toml:"shutdown"`
	// DrainGrace is how long, after SIGTERM, the server reports itself
	// not ready (Ready, /readyz) while it still accepts, before its
	// listeners close: the time a balancer's health check needs to stop
	// sending it clients. It applies only with a telemetry listener
	// (nothing else can tell a balancer); a second signal cuts it short.
	DrainGrace conf.Duration `toml:"drain_grace"`
	// LoginFailureDelay is how long every failed login waits before its
	// 530 (tenancy), whatever the reason, so that timing tells nothing.
	LoginFailureDelay conf.Duration `toml:"login_failure_delay"`
}

// LogConfig is [log].
type LogConfig struct {
	// Format is "text" or "json".
	Format string `toml:"format"`
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
}

// CommandsConfig is [commands]: the optional commands and their bounds.
type CommandsConfig struct {
	// HASH offers HASH, RANG and the XCRC/XMD5/XSHA* digest commands.
	HASH bool `toml:"hash"`
	// COMB offers COMB, which joins uploaded parts into one file.
	COMB bool `toml:"comb"`
	// ModeZLevel is the MODE Z compression level 1-9 for clients that
	// choose none; 0 is zlib's default.
	ModeZLevel int `toml:"mode_z_level"`
	// MaxDecompressedUpload is the bytes one MODE Z upload may expand to;
	// 0 means 1 GiB, -1 no limit.
	MaxDecompressedUpload int64 `toml:"max_decompressed_upload"`
}

// TenantsConfig is [tenants]: where tenancy finds its tenant files.
type TenantsConfig struct {
	// Dir holds one *.toml file per tenant.
	Dir string `toml:"dir"`
	// Default is the id of the tenant used when neither HOST, SNI nor the
	// login names one, or "" to refuse such logins.
	Default string `toml:"default"`
}

// maxTimeout bounds every duration of [timeouts].
const maxTimeout = 24 * time.Hour

// Default returns the defaults of every key.
func Default() Config {
	return Config{
		Listen:    ListenConfig{Control: "127.0.0.1:2121"},
		Timeouts:  TimeoutsConfig{Idle: conf.Duration(15 * time.Minute), Connection: conf.Duration(30 * time.Second), Shutdown: conf.Duration(30 * time.Second), DrainGrace: conf.Duration(DefaultDrainGrace), LoginFailureDelay: conf.Duration(time.Second)},
		Log:       LogConfig{Format: "text", Level: "info"},
		Policy:    PolicyConfig{Dir: "ftpgate-policies", Timeout: conf.Duration(50 * time.Millisecond), MemoryPages: 256},
		Telemetry: telemetry.Default(),
		Cluster:   cluster.Default(),
	}
}

// Load reads the server file at path and the tenant files of its tenants
// directory. The error, when not nil, is a conf.Errors listing every
// problem found, each as FILE:LINE: key: what is expected.
func Load(path string) (Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, conf.Errors{{File: path, Msg: err.Error()}}
	}
	data, err := tenancy.ReadConfigFile(abs)
	if err != nil {
		return Config{}, conf.Errors{{File: abs, Msg: err.Error()}}
	}
	cfg, errs := parse(abs, data)
	// The tenant files are read even when the server file has problems,
	// so that one run of check-config lists them all.
	if cfg != nil && !slices.ContainsFunc(errs, func(e *conf.Error) bool { return strings.HasPrefix(e.Key, "tenants.") }) {
		if err := cfg.LoadTenants(); err != nil {
			var tes conf.Errors
			if !errors.As(err, &tes) {
				tes = conf.Errors{{File: abs, Msg: err.Error()}}
			}
			errs = append(errs, tes...)
		}
	}
	if len(errs) > 0 {
		return Config{}, errs
	}
	return *cfg, nil
}

// LoadTenants reads the tenant files of c.Tenants.Dir into c.Tenancy.
func (c *Config) LoadTenants() error {
	tc, err := tenancy.LoadTenants(c.File, c.TenancyServer())
	if err != nil {
		return err
	}
	c.Tenancy = tc
	return nil
}

// Parse reads a server file's content onto Default(); file is its
// absolute path, which errors name and relative paths start from. It
// checks the syntax, unknown keys and every value's type, then the
// values of every key whose type was right (no follow-on errors from a
// bad one), then each plugin section's Validate. The error, when not nil,
// is a conf.Errors. The tenant files are not read (Load does).
func Parse(file string, data []byte) (Config, error) {
	cfg, errs := parse(file, data)
	if len(errs) > 0 {
		return Config{}, errs
	}
	return *cfg, nil
}

// parse is Parse; the Config is nil only when data is not TOML, and its
// errors are in the order of their lines.
func parse(file string, data []byte) (*Config, conf.Errors) {
	var errs conf.Errors
	sink := &conf.Sink{File: file, Lines: conf.ScanKeyLines(string(data)), Errs: &errs}
	cfg := Default()
	cfg.File = file
	if !conftoml.Decode(sink, string(data), &cfg) {
		return nil, errs
	}
	dir := filepath.Dir(file)
	// Paths the file sets start at its directory; a default (policy.dir)
	// stays relative to the working directory, as the flag's does.
	for key, p := range map[string]*string{"tls.cert": &cfg.TLS.Cert, "tls.key": &cfg.TLS.Key, "tls.client_ca": &cfg.TLS.ClientCA, "tenants.dir": &cfg.Tenants.Dir,
		"policy.dir": &cfg.Policy.Dir, "admin.token_file": &cfg.Admin.TokenFile, "admin.tls_cert": &cfg.Admin.TLSCert, "admin.tls_key": &cfg.Admin.TLSKey,
		"audit.file": &cfg.Audit.File, "audit.xferlog": &cfg.Audit.Xferlog,
		"telemetry.token_file": &cfg.Telemetry.TokenFile, "telemetry.tls_cert": &cfg.Telemetry.TLSCert, "telemetry.tls_key": &cfg.Telemetry.TLSKey,
		"cluster.password_file": &cfg.Cluster.PasswordFile, "cluster.tls_ca": &cfg.Cluster.TLSCA} {
		if _, set := sink.Lines[key]; set && *p != "" && !(*p == "-" && strings.HasPrefix(key, "audit.")) && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	cfg.check(sink, true)
	slices.SortStableFunc(errs, func(a, b *conf.Error) int { return a.Line - b.Line })
	return &cfg, errs
}

// Validate checks c as Parse does after decoding, for a Config built in
// Go (by flags or a program); errors carry keys but no file or lines.
func (c *Config) Validate() error {
	var errs conf.Errors
	c.check(&conf.Sink{File: c.File, Errs: &errs}, c.File != "")
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// check validates every key that did not fail to decode (sink.Bad);
// needTenants asks for
// tenants.dir (a file has to name its tenants; a Config built in Go may
// carry them in Tenancy).
func (c *Config) check(sink *conf.Sink, needTenants bool) {
	ok := func(key string) bool { return !sink.Failed(key) }
	if ok("listen.control") {
		checkAddr(sink, "listen.control", c.Listen.Control)
	}
	if ok("listen.implicit_tls") && c.Listen.ImplicitTLS != "" {
		checkAddr(sink, "listen.implicit_tls", c.Listen.ImplicitTLS)
	}
	if ok("tls.cert") && ok("tls.key") {
		if (c.TLS.Cert == "") != (c.TLS.Key == "") {
			sink.Add("tls", "cert and key go together: give both PEM files or neither (a self-signed certificate)")
		}
		checkReadable(sink, "tls.cert", c.TLS.Cert)
		checkReadable(sink, "tls.key", c.TLS.Key)
	}
	if ok("tls.client_ca") {
		checkReadable(sink, "tls.client_ca", c.TLS.ClientCA)
	}
	if ok("tls.ciphers") && len(c.TLS.Ciphers) > 0 {
		if _, err := ParseCipherList(strings.Join(c.TLS.Ciphers, ",")); err != nil {
			sink.Add("tls.ciphers", "%v", err)
		}
	}
	if p := c.Passive.Ports; ok("passive.ports") && p != nil {
		// Decoding checked the text; a range set in Go is checked here.
		if text, _ := p.MarshalText(); new(engine.PortRange).UnmarshalText(text) != nil {
			sink.Add("passive.ports", "%d-%d: want 1024 <= LOW <= HIGH <= 65535", p.Start, p.End)
		}
	}
	if ok("passive.multiplex") && ok("passive.ports") && c.Passive.Multiplex && c.Passive.Ports == nil {
		sink.Add("passive.multiplex", "needs passive.ports: the shared ports are that range")
	}
	if ok("passive.public_host") && c.Passive.PublicHost != "" {
		if a, err := netip.ParseAddr(c.Passive.PublicHost); err != nil || !a.Is4() {
			sink.Add("passive.public_host", "%q is not an IPv4 address: PASV can only advertise IPv4", c.Passive.PublicHost)
		}
	}
	for _, t := range []struct {
		key    string
		d      conf.Duration
		zeroOK bool
	}{
		{"timeouts.idle", c.Timeouts.Idle, true},
		{"timeouts.connection", c.Timeouts.Connection, false},
		{"timeouts.shutdown", c.Timeouts.Shutdown, true},
		{"timeouts.drain_grace", c.Timeouts.DrainGrace, true},
		{"timeouts.login_failure_delay", c.Timeouts.LoginFailureDelay, true},
	} {
		switch {
		case !ok(t.key):
		case t.d < 0 || (t.d == 0 && !t.zeroOK):
			sink.Add(t.key, "%q: want a positive duration", t.d.String())
		case time.Duration(t.d) > maxTimeout:
			sink.Add(t.key, "%q: want at most 24h", t.d.String())
		}
	}
	if ok("log.format") && c.Log.Format != "text" && c.Log.Format != "json" {
		sink.Add("log.format", "%q: want text or json", c.Log.Format)
	}
	if ok("log.level") {
		switch c.Log.Level {
		case "debug", "info", "warn", "error":
		default:
			sink.Add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
		}
	}
	if ok("commands.mode_z_level") && (c.Commands.ModeZLevel < 0 || c.Commands.ModeZLevel > 9) {
		sink.Add("commands.mode_z_level", "%d: want 0 (zlib's default) to 9", c.Commands.ModeZLevel)
	}
	if ok("commands.max_decompressed_upload") && c.Commands.MaxDecompressedUpload < -1 {
		sink.Add("commands.max_decompressed_upload", "%d: want a number of bytes, 0 (1 GiB) or -1 (no limit)", c.Commands.MaxDecompressedUpload)
	}
	if ok("tenants.dir") {
		switch {
		case c.Tenants.Dir == "" && needTenants:
			sink.Add("tenants.dir", "missing: want the directory holding one TOML file per tenant")
		case c.Tenants.Dir != "":
			if fi, err := os.Stat(c.Tenants.Dir); err != nil || !fi.IsDir() {
				sink.Add("tenants.dir", "%q is not a readable directory", c.Tenants.Dir)
			}
		}
	}
	if ok("proxy_protocol") {
		addSection(sink, "proxy_protocol", c.ProxyProtocol.Validate())
	}
	if ok("limits") {
		addSection(sink, "limits", c.Limits.Validate())
	}
	if ok("policy") {
		addSection(sink, "policy", c.Policy.Validate())
	}
	if ok("admin") {
		addSection(sink, "admin", c.Admin.Validate())
	}
	if ok("audit") {
		addSection(sink, "audit", c.Audit.Validate())
	}
	if ok("telemetry") {
		addSection(sink, "telemetry", c.Telemetry.Validate())
	}
	if ok("cluster") {
		addSection(sink, "cluster", c.Cluster.Validate())
	}
}

// addSection reports a plugin section's Validate error: a conf.Errors
// with keys relative to the section, or any error, on the section.
func addSection(sink *conf.Sink, section string, err error) {
	if err == nil {
		return
	}
	var es conf.Errors
	if !errors.As(err, &es) {
		sink.Add(section, "%v", err)
		return
	}
	for _, e := range es {
		sink.Add(join(section, e.Key), "%s", e.Msg)
	}
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

// checkReadable checks that a file named by key can be read.
func checkReadable(sink *conf.Sink, key, p string) {
	if p == "" {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		sink.Add(key, "cannot read %q: want a readable PEM file (relative paths start at the server file's directory)", p)
		return
	}
	_ = f.Close()
}

// Keys returns every dotted key of the server file's schema, in the order
// of Config's fields ("limits.tenants.*.max_sessions" for the entries of
// a map). CONFIG.md and the test that ties the serve flags to keys walk
// it.
func Keys() []string { return conftoml.Keys(reflect.TypeFor[Config]()) }

// TenancyServer returns the server settings tenancy uses.
func (c *Config) TenancyServer() tenancy.ServerConfig {
	s := tenancy.ServerConfig{
		Listen:            c.Listen.Control,
		ImplicitTLSListen: c.Listen.ImplicitTLS,
		TLSCert:           c.TLS.Cert,
		TLSKey:            c.TLS.Key,
		TLSRequired:       c.TLS.Required,
		TLSClientCA:       c.TLS.ClientCA,
		PublicHost:        c.Passive.PublicHost,
		IdleTimeout:       time.Duration(c.Timeouts.Idle),
		ConnectionTimeout: time.Duration(c.Timeouts.Connection),
		ShutdownTimeout:   time.Duration(c.Timeouts.Shutdown),
		LoginFailureDelay: time.Duration(c.Timeouts.LoginFailureDelay),
		LogFormat:         c.Log.Format,
		LogLevel:          c.Log.Level,
		TenantsDir:        c.Tenants.Dir,
		DefaultTenant:     c.Tenants.Default,
		Limits:            c.Limits,
	}
	if len(c.TLS.Ciphers) > 0 {
		s.TLSCipherSuites, _ = ParseCipherList(strings.Join(c.TLS.Ciphers, ",")) // validated
	}
	if p := c.Passive.Ports; p != nil {
		s.PassivePortLow, s.PassivePortHigh = p.Start, p.End
	}
	return s
}

// Logger returns the logger [log] asks for, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		opts.ReplaceAttr = durationMillis
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// join joins a dotted key and a name.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
