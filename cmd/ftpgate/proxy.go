package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
)

// proxyConfig is what the --proxy-* flags of `ftpgate serve` ask for;
// section turns it into the proxyproto.Section of the server file's
// [proxy_protocol].
type proxyConfig struct {
	proxyproto.Config
	// PassiveHosts are CIDR=IPv4 pairs: clients inside CIDR get IPv4 in
	// PASV replies.
	PassiveHosts []string
	// ImplicitTLSMode and DataMode override Mode for the implicit-TLS
	// listener and for the passive data listeners; "" keeps Mode.
	ImplicitTLSMode string
	DataMode        string
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

// section returns the flags as the PROXY protocol section the gateway
// and the server file share; validate has checked them.
func (p *proxyConfig) section() proxyproto.Section {
	m, _ := p.modes()
	sec := proxyproto.Section{Config: p.Config, PassiveHosts: p.PassiveHosts}
	sec.ImplicitTLSMode, sec.DataMode = &m.implicitTLS, &m.data
	return sec
}
