package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
	"github.com/ftpgate/ftpgate/tenancy"
)

// proxyConfig is the PROXY protocol part of `ftpgate serve`: the
// proxyproto.Config (whose toml tags mode, trusted, untrusted and
// header_timeout a configuration file can use) and the per-network PASV
// addresses.
type proxyConfig struct {
	proxyproto.Config
	// PassiveHosts are CIDR=IPv4 pairs: clients inside CIDR get IPv4 in
	// PASV replies.
	PassiveHosts []string `toml:"passive_hosts"`
	// ImplicitTLSMode and DataMode override Mode for the implicit-TLS
	// listener and for the passive data listeners; "" keeps Mode.
	ImplicitTLSMode string `toml:"implicit_tls_mode"`
	DataMode        string `toml:"data_mode"`
}

// listenerModes are the PROXY protocol modes of the three kinds of
// listener.
type listenerModes struct{ control, implicitTLS, data proxyproto.Mode }

// modes resolves the per-listener overrides.
func (p *proxyConfig) modes() (listenerModes, error) {
	m := listenerModes{p.Mode, p.Mode, p.Mode}
	for _, o := range []struct {
		flag, value string
		mode        *proxyproto.Mode
	}{{"--proxy-protocol-implicit-tls", p.ImplicitTLSMode, &m.implicitTLS}, {"--proxy-protocol-data", p.DataMode, &m.data}} {
		if o.value == "" {
			continue
		}
		if err := o.mode.UnmarshalText([]byte(o.value)); err != nil {
			return m, fmt.Errorf("%s: %w", o.flag, err)
		}
	}
	return m, nil
}

// on reports whether any listener reads headers.
func (m listenerModes) on() bool {
	return m.control != proxyproto.Off || m.implicitTLS != proxyproto.Off || m.data != proxyproto.Off
}

// wrapper returns the Wrapper for one listener's mode, or nil when the
// listener takes no headers.
func (p *proxyConfig) wrapper(mode proxyproto.Mode, log *slog.Logger) (*proxyproto.Wrapper, error) {
	if mode == proxyproto.Off {
		return nil, nil
	}
	c := p.Config
	c.Mode = mode
	return proxyproto.New(c, log)
}

// stringsFlag collects a repeatable flag.
type stringsFlag struct{ list *[]string }

func (f stringsFlag) String() string { return "" }

func (f stringsFlag) Set(v string) error {
	*f.list = append(*f.list, v)
	return nil
}

// register adds the --proxy-* flags to fs.
func (p *proxyConfig) register(fs *flag.FlagSet) {
	fs.TextVar(&p.Mode, "proxy-protocol", proxyproto.Off, "PROXY protocol `mode` on every listener: off, optional or required")
	fs.Var(stringsFlag{&p.Trusted}, "proxy-trusted", "balancer `CIDR` (or address) allowed to send PROXY headers; repeatable, needed unless off")
	fs.TextVar(&p.Untrusted, "proxy-untrusted", proxyproto.Reject, "`action` for a PROXY header from any other peer, which is never believed: reject (drop the connection) or ignore (strip the header)")
	fs.TextVar(&p.HeaderTimeout, "proxy-header-timeout", conf.Duration(proxyproto.DefaultHeaderTimeout), "how long (a `duration`) a trusted balancer has to send the header")
	fs.StringVar(&p.ImplicitTLSMode, "proxy-protocol-implicit-tls", "", "PROXY protocol `mode` of the implicit-TLS listener (default: --proxy-protocol's)")
	fs.StringVar(&p.DataMode, "proxy-protocol-data", "", "PROXY protocol `mode` of the passive data listeners (default: --proxy-protocol's)")
	fs.Var(stringsFlag{&p.PassiveHosts}, "proxy-pasv-host", "advertise this IPv4 in PASV replies to clients inside CIDR (`CIDR=IPv4`); repeatable")
}

// validate checks the PROXY protocol flags.
func (p *proxyConfig) validate() error {
	modes, err := p.modes()
	if err != nil {
		return err
	}
	for _, m := range []proxyproto.Mode{modes.control, modes.implicitTLS, modes.data} {
		c := p.Config
		c.Mode = m
		if err := c.Validate(); err != nil {
			return fmt.Errorf("--proxy-*: %w", err)
		}
	}
	if !modes.on() && (len(p.Trusted) > 0 || len(p.PassiveHosts) > 0) {
		return errors.New("--proxy-trusted and --proxy-pasv-host need --proxy-protocol optional or required")
	}
	if _, err := p.passiveHosts(); err != nil {
		return err
	}
	return nil
}

func (p *proxyConfig) passiveHosts() ([]proxyproto.NetworkHost, error) {
	var hosts []proxyproto.NetworkHost
	for _, s := range p.PassiveHosts {
		h, err := proxyproto.ParseNetworkHost(s)
		if err != nil {
			return nil, fmt.Errorf("--proxy-pasv-host: %w", err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// proxiedDriver adds PROXY header reading on passive data listeners to
// the embedded driver. It forwards the extensions the engine looks for,
// so wrapping hides none of them.
type proxiedDriver struct {
	engine.MainDriver
	w *proxyproto.Wrapper
}

// WrapPassiveListener implements engine.MainDriverExtensionPassiveWrapper.
func (d proxiedDriver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	return d.w.WrapPassiveListener(ln)
}

// CheckHost passes HOST to the embedded driver; without the extension
// every name is accepted, as the engine does.
func (d proxiedDriver) CheckHost(cc engine.ClientContext, host string) error {
	if h, ok := d.MainDriver.(engine.MainDriverExtensionHost); ok {
		return h.CheckHost(cc, host)
	}
	return nil
}

// VerifyTLSClient passes certificate logins to the embedded driver;
// without the extension it asks for a password, as the engine does.
func (d proxiedDriver) VerifyTLSClient(cc engine.ClientContext, user string, state tls.ConnectionState) (engine.ClientDriver, error) {
	if v, ok := d.MainDriver.(engine.MainDriverExtensionTLSVerifier); ok {
		return v.VerifyTLSClient(cc, user, state)
	}
	return nil, nil
}

// proxyFromFile turns the server file's [proxy_protocol] section, which
// tenancy has validated, into the settings of the proxy package.
func proxyFromFile(pp tenancy.ProxyProtocolConfig) (proxyConfig, error) {
	var p proxyConfig
	if err := p.Mode.UnmarshalText([]byte(pp.Mode)); err != nil {
		return p, fmt.Errorf("proxy_protocol.mode: %w", err)
	}
	if err := p.Untrusted.UnmarshalText([]byte(pp.Untrusted)); err != nil {
		return p, fmt.Errorf("proxy_protocol.untrusted: %w", err)
	}
	for _, t := range pp.Trusted {
		p.Trusted = append(p.Trusted, t.String())
	}
	p.HeaderTimeout = conf.Duration(pp.HeaderTimeout)
	p.ImplicitTLSMode, p.DataMode = pp.ImplicitTLSMode, pp.DataMode
	if m, err := p.modes(); err == nil && !m.on() {
		// A file may keep its trusted balancers while the protocol is
		// off (the shipped example does); only the flags refuse that,
		// where it is more likely a forgotten --proxy-protocol.
		return proxyConfig{}, nil
	}
	return p, p.validate()
}

// wire returns the driver to serve with. With the PROXY protocol on, it
// binds the control and implicit-TLS listeners itself to wrap them, makes
// PASV advertise the balancer (per-network override, else --public-host,
// else the address the client reached on the balancer, from the header)
// and wraps the passive listeners through the driver.
func (p *proxyConfig) wire(st *engine.Settings, d engine.MainDriver, log *slog.Logger) (engine.MainDriver, error) {
	modes, err := p.modes()
	if err != nil || !modes.on() {
		return d, err
	}
	ctl, err := p.wrapper(modes.control, log)
	if err != nil {
		return nil, err
	}
	tlsW, err := p.wrapper(modes.implicitTLS, log)
	if err != nil {
		return nil, err
	}
	data, err := p.wrapper(modes.data, log)
	if err != nil {
		return nil, err
	}
	hosts, err := p.passiveHosts()
	if err != nil {
		return nil, err
	}
	ph := &proxyproto.PassiveHost{Default: st.PublicHost, Networks: hosts, UseDestination: st.PublicHost == ""}
	st.PublicHost = "" // the engine asks the resolver only without it
	st.PublicIPResolver = ph.Resolve

	if ctl != nil {
		ln, err := net.Listen("tcp", st.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		st.Listener = ctl.Wrap(ln)
	}
	if tlsW != nil && st.ImplicitTLSListenAddr != "" {
		tln, err := net.Listen("tcp", st.ImplicitTLSListenAddr)
		if err != nil {
			if st.Listener != nil {
				_ = st.Listener.Close()
			}
			return nil, fmt.Errorf("listen for implicit TLS: %w", err)
		}
		st.ImplicitTLSListener = tlsW.Wrap(tln)
	}
	log.Info("PROXY protocol on", "control", modes.control.String(), "implicit_tls", modes.implicitTLS.String(),
		"data", modes.data.String(), "trusted", strings.Join(p.Trusted, ","),
		"untrusted", p.Untrusted.String(), "header_timeout", headerTimeout(time.Duration(p.HeaderTimeout)))
	if data == nil {
		return d, nil
	}
	return proxiedDriver{MainDriver: d, w: data}, nil
}

// headerTimeout is the timeout in effect for a configured value.
func headerTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return proxyproto.DefaultHeaderTimeout
	}
	return d
}
