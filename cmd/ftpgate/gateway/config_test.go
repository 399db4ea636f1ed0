package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
)

// TestParseErrors: each bad server file gives exactly these lines,
// FILE:LINE: key: what is expected, type errors included, and a key whose
// type is wrong gives no second error from its section's checks.
func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(filepath.Join(dir, "short"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tenants = "[tenants]\ndir = \".\"\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"syntax", "[listen\ncontrol = 1\n", []string{"server.toml:2: expected '.' or ']' to end table name, but got '\\n' instead"}},
		{"unknown keys", tenants + "[listen]\ncontrl = \"x\"\n[tls]\nsesion_reuse = true\n", []string{
			"server.toml:4: listen.contrl: unknown key (check its spelling and the table it is in)",
			"server.toml:6: tls.sesion_reuse: unknown key (check its spelling and the table it is in)",
		}},
		{"unknown table", tenants + "[polcy]\ndir = \"x\"\n", []string{"server.toml:3: polcy: unknown key (check its spelling and the table it is in)"}},
		{"policy and admin", tenants + "[policy]\ntimeout = \"1h\"\n[admin]\nlisten = \"0.0.0.0:8080\"\n", []string{
			"server.toml:4: policy.timeout: 1h0m0s: want 1ms to 5s",
			"server.toml:6: admin.listen: \"0.0.0.0:8080\" is not a loopback address; serving tokens in clear text needs admin.tls_cert and admin.tls_key",
		}},
		{"types", tenants + "[listen]\ncontrol = 21\n[tls]\nrequired = \"yes\"\n[timeouts]\nidle = 5\n[passive]\nports = 50000\n", []string{
			"server.toml:4: listen.control: want a string",
			"server.toml:6: tls.required: want true or false",
			"server.toml:8: timeouts.idle: \"5\": want a duration with a unit, such as \"30s\", \"15m\" or \"1h30m\"",
			"server.toml:10: passive.ports: \"50000\": want LOW-HIGH, such as \"50000-50100\"",
		}},
		{"a section that is not a table", "listen = \"127.0.0.1:21\"\n" + tenants, []string{
			"server.toml:1: listen: want a table ([listen] or listen = { ... })",
		}},
		{"values", tenants + "[listen]\ncontrol = \"nowhere\"\n[passive]\nports = \"10-20\"\nmultiplex = true\npublic_host = \"::1\"\n[log]\nlevel = \"loud\"\n[timeouts]\nconnection = \"0s\"\n[commands]\nmode_z_level = 10\n", []string{
			"server.toml:4: listen.control: \"nowhere\": want HOST:PORT, like \"0.0.0.0:21\"",
			"server.toml:6: passive.ports: \"10-20\": want ports from 1024 to 65535",
			"server.toml:8: passive.public_host: \"::1\" is not an IPv4 address: PASV can only advertise IPv4",
			"server.toml:10: log.level: \"loud\": want debug, info, warn or error",
			"server.toml:12: timeouts.connection: \"0s\": want a positive duration",
			"server.toml:14: commands.mode_z_level: 10: want 0 (zlib's default) to 9",
		}},
		{"multiplex without ports", tenants + "[passive]\nmultiplex = true\n", []string{
			"server.toml:4: passive.multiplex: needs passive.ports: the shared ports are that range",
		}},
		{"tenants dir missing", "[log]\nlevel = \"info\"\n", []string{
			"server.toml: tenants.dir: missing: want the directory holding one TOML file per tenant",
		}},
		{"ciphers", tenants + "[tls]\nciphers = [\"TLS_RSA_WITH_RC4_128_SHA\"]\n", []string{
			"server.toml:4: tls.ciphers: TLS_RSA_WITH_RC4_128_SHA is insecure and not allowed",
		}},
		{"admin token file", tenants + "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"none\"\n", []string{
			"server.toml:5: admin.token_file: open none: no such file or directory",
		}},
		{"admin token too short", tenants + "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"short\"\n", []string{
			"server.toml:5: admin.token_file: the admin API needs an operator token of at least 16 characters (a token file or $FTPGATE_ADMIN_TOKEN)",
		}},
		{"proxy mode", tenants + "[proxy_protocol]\nmode = \"always\"\n", []string{
			"server.toml:4: proxy_protocol.mode: PROXY protocol mode \"always\": want off, optional or required",
		}},
		{"proxy on without trusted", tenants + "[proxy_protocol]\ndata_mode = \"required\"\npassive_hosts = [\"10.0.0.0/8=::1\"]\n", []string{
			"server.toml:3: proxy_protocol.trusted: missing: with the PROXY protocol on, list the load balancers' networks (CIDRs) whose headers are believed",
			"server.toml:5: proxy_protocol.passive_hosts: \"::1\": PASV can only advertise an IPv4 address",
		}},
		{"proxy trusted of the wrong type: no follow-on 'missing'", tenants + "[proxy_protocol]\nmode = \"required\"\ntrusted = \"10.0.0.0/8\"\n", []string{
			"server.toml:5: proxy_protocol.trusted: want an array of strings",
		}},
		{"limits", tenants + "[limits]\nconn_per_ip = -3\nconn_rat = 5\n", []string{
			"server.toml:5: limits.conn_rat: unknown key (check its spelling and the table it is in)",
		}},
		{"limits value", tenants + "[limits]\nconn_per_ip = -3\n", []string{
			"server.toml:3: limits: conn_per_ip: want a number >= 0 (0: no limit)",
		}},
		{"limits type in a map of tables", tenants + "[limits.tenants.acme]\nmax_sessions = \"4\"\n", []string{
			"server.toml:4: limits.tenants.acme.max_sessions: want an integer",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(file, []byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParseKeys: every key of the shipped example and the new keys land
// in their fields; absent keys keep their defaults.
func TestParseKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.toml")
	if err := os.Mkdir(filepath.Join(dir, "t"), 0o700); err != nil {
		t.Fatal(err)
	}
	doc := `[listen]
control = "0.0.0.0:21"
implicit_tls = "0.0.0.0:990"
[tls]
required = true
ciphers = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
session_reuse = true
[passive]
ports = "50000-50100"
public_host = "203.0.113.10"
multiplex = true
[timeouts]
idle = "0s"
drain_grace = "0s"
[log]
format = "json"
[commands]
hash = true
comb = true
mode_z_level = 9
max_decompressed_upload = -1
[tenants]
dir = "t"
default = "acme"
[proxy_protocol]
mode = "optional"
data_mode = "off"
trusted = ["10.0.0.0/8"]
untrusted = "ignore"
header_timeout = "2s"
passive_hosts = ["192.168.0.0/16=192.168.1.1"]
[limits]
conn_rate = 20
[limits.user]
max_sessions = 8
`
	cfg, err := Parse(file, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	pp := cfg.ProxyProtocol
	c, i, d := pp.Modes()
	switch {
	case cfg.Listen.Control != "0.0.0.0:21" || cfg.Listen.ImplicitTLS != "0.0.0.0:990":
		t.Errorf("listen %+v", cfg.Listen)
	case !cfg.TLS.Required || !cfg.TLS.SessionReuse || len(cfg.TLS.Ciphers) != 1:
		t.Errorf("tls %+v", cfg.TLS)
	case cfg.Passive.Ports == nil || *cfg.Passive.Ports != engine.PortRange{Start: 50000, End: 50100} ||
		cfg.Passive.PublicHost != "203.0.113.10" || !cfg.Passive.Multiplex:
		t.Errorf("passive %+v", cfg.Passive)
	case cfg.Timeouts != TimeoutsConfig{Idle: 0, Connection: conf.Duration(30 * time.Second), Shutdown: conf.Duration(30 * time.Second), DrainGrace: 0, LoginFailureDelay: conf.Duration(time.Second)}:
		t.Errorf("timeouts %+v", cfg.Timeouts)
	case cfg.Log != LogConfig{Format: "json", Level: "info"}:
		t.Errorf("log %+v", cfg.Log)
	case cfg.Commands != CommandsConfig{HASH: true, COMB: true, ModeZLevel: 9, MaxDecompressedUpload: -1}:
		t.Errorf("commands %+v", cfg.Commands)
	case cfg.Tenants != TenantsConfig{Dir: filepath.Join(dir, "t"), Default: "acme"}:
		t.Errorf("tenants %+v", cfg.Tenants)
	case c != proxyproto.Optional || i != proxyproto.Optional || d != proxyproto.Off || pp.Untrusted != proxyproto.Ignore ||
		pp.HeaderTimeout != conf.Duration(2*time.Second) || len(pp.PassiveHosts) != 1 || len(pp.Trusted) != 1:
		t.Errorf("proxy_protocol %+v", pp)
	case cfg.Limits.ConnRate != 20 || cfg.Limits.User.MaxSessions != 8:
		t.Errorf("limits %+v", cfg.Limits)
	}
	s := cfg.TenancyServer()
	if s.PassivePortLow != 50000 || s.PassivePortHigh != 50100 || len(s.TLSCipherSuites) != 1 {
		t.Errorf("tenancy server %+v", s)
	}
}

// TestExampleServerFile: the shipped example loads, tenants included.
func TestExampleServerFile(t *testing.T) {
	cfg, err := Load("../../../examples/tenants/server.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenancy == nil || len(cfg.Tenancy.Tenants) == 0 {
		t.Fatalf("no tenants: %+v", cfg.Tenancy)
	}
}

// TestPassivePortsSetInGo: a range a Go caller sets (not decoded from
// text) is checked as the file's is, and multiplexing needs one.
func TestPassivePortsSetInGo(t *testing.T) {
	for _, tc := range []struct {
		ports     *engine.PortRange
		multiplex bool
		want      string
	}{
		{&engine.PortRange{Start: 80, End: 90}, false, "passive.ports: 80-90: want 1024 <= LOW <= HIGH <= 65535"},
		{&engine.PortRange{Start: 50010, End: 50000}, false, "passive.ports: 50010-50000"},
		{&engine.PortRange{}, false, "passive.ports: 0-0"},
		{nil, true, "passive.multiplex: needs passive.ports"},
		{&engine.PortRange{Start: 50000, End: 50010}, true, ""},
	} {
		c := Default()
		c.Passive.Ports, c.Passive.Multiplex = tc.ports, tc.multiplex
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want no error", tc.ports, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q", tc.ports, err, tc.want)
		}
	}
}
