package proxyproto

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// maxHeaderTimeout bounds Config.HeaderTimeout in a Section: a silent
// trusted peer holds a connection this long at most.
const maxHeaderTimeout = time.Minute

// Section is a server's whole PROXY protocol configuration, as the
// [proxy_protocol] section of ftpgate's server file and the --proxy-*
// flags give it: Config for the control listener, the modes of the
// implicit-TLS and passive data listeners, and the PASV address per client
// network. Its zero value is off everywhere.
type Section struct {
	Config
	// ImplicitTLSMode and DataMode are the modes of the implicit-TLS
	// listener and of the passive data listeners; nil keeps Mode.
	ImplicitTLSMode *Mode `toml:"implicit_tls_mode"`
	DataMode        *Mode `toml:"data_mode"`
	// PassiveHosts are "CIDR=IPv4" pairs: clients inside CIDR are told
	// IPv4 in PASV replies (ParseNetworkHost).
	PassiveHosts []string `toml:"passive_hosts"`
}

// Modes returns the modes of the control, implicit-TLS and data
// listeners.
func (s Section) Modes() (control, implicitTLS, data Mode) {
	control, implicitTLS, data = s.Mode, s.Mode, s.Mode
	if s.ImplicitTLSMode != nil {
		implicitTLS = *s.ImplicitTLSMode
	}
	if s.DataMode != nil {
		data = *s.DataMode
	}
	return control, implicitTLS, data
}

// On reports whether some listener reads headers.
func (s Section) On() bool {
	c, i, d := s.Modes()
	return c != Off || i != Off || d != Off
}

// Validate checks s; its error is a conf.Errors whose keys are relative to
// the section ("trusted", "passive_hosts"). Trusted balancers may be
// listed while every mode is off (a file keeps them while the protocol is
// switched off); they must be when some mode is on.
func (s Section) Validate() error {
	var errs conf.Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, &conf.Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, t := range s.Trusted {
		if _, err := ParsePrefix(t); err != nil {
			add("trusted", "%v", err)
		}
	}
	if s.On() && len(s.Trusted) == 0 {
		add("trusted", "missing: with the PROXY protocol on, list the load balancers' networks (CIDRs) whose headers are believed")
	}
	if t := time.Duration(s.HeaderTimeout); t < 0 || t > maxHeaderTimeout {
		add("header_timeout", "%s: want a duration from 0 (the default, %s) to %s", s.HeaderTimeout, DefaultHeaderTimeout, maxHeaderTimeout)
	}
	for _, h := range s.PassiveHosts {
		if _, err := ParseNetworkHost(h); err != nil {
			add("passive_hosts", "%v", err)
		}
	}
	if len(errs) == 0 {
		c, i, d := s.Modes()
		for _, m := range []Mode{c, i, d} {
			cfg := s.Config
			cfg.Mode = m
			if err := cfg.Validate(); err != nil {
				add("", "%v", err)
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Install wires s into srv, whose settings st are the ones it will serve
// with and which has not listened yet. With some mode on, it binds the
// control listener (and the implicit-TLS one, when st has an address for
// it) itself to wrap them, makes PASV advertise the balancer (the
// per-network address, else st.PublicHost, else the address the client
// reached on the balancer, from the header), and installs a Wrapper on the
// passive listeners (Wrapper.Install). With every mode off it changes
// nothing. The listeners it binds belong to srv from then on.
func (s Section) Install(srv *engine.Server, st *engine.Settings, log *slog.Logger) error {
	if !s.On() {
		return nil
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	control, implicitTLS, data := s.Modes()
	wrapper := func(m Mode) *Wrapper {
		c := s.Config
		c.Mode = m
		w, _ := New(c, log) // validated above
		return w
	}
	var hosts []NetworkHost
	for _, h := range s.PassiveHosts {
		nh, _ := ParseNetworkHost(h) // validated above
		hosts = append(hosts, nh)
	}
	ph := &PassiveHost{Default: st.PublicHost, Networks: hosts, UseDestination: st.PublicHost == ""}
	if control != Off {
		ln, err := net.Listen("tcp", st.ListenAddr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		st.Listener = wrapper(control).Wrap(ln)
	}
	if implicitTLS != Off && st.ImplicitTLSListenAddr != "" {
		tln, err := net.Listen("tcp", st.ImplicitTLSListenAddr)
		if err != nil {
			if st.Listener != nil {
				_ = st.Listener.Close()
				st.Listener = nil
			}
			return fmt.Errorf("listen for implicit TLS: %w", err)
		}
		st.ImplicitTLSListener = wrapper(implicitTLS).Wrap(tln)
	}
	st.PublicHost = "" // the engine asks the resolver only without it
	st.PublicIPResolver = ph.Resolve
	wrapper(data).Install(srv)
	timeout := time.Duration(s.HeaderTimeout)
	if timeout == 0 {
		timeout = DefaultHeaderTimeout
	}
	log.Info("PROXY protocol on", "control", control.String(), "implicit_tls", implicitTLS.String(),
		"data", data.String(), "trusted", s.Trusted, "untrusted", s.Untrusted.String(), "header_timeout", timeout)
	return nil
}
