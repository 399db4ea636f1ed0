package proxyproto

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ftpgate/ftpgate/engine"
)

// NetworkHost advertises Host in PASV replies to clients inside Network.
type NetworkHost struct {
	Network netip.Prefix
	Host    netip.Addr
}

// ParseNetworkHost parses "CIDR=IPv4", e.g. "10.0.0.0/8=10.1.2.3".
func ParseNetworkHost(s string) (NetworkHost, error) {
	cidr, host, ok := strings.Cut(s, "=")
	if !ok {
		return NetworkHost{}, fmt.Errorf("%q: want CIDR=IPv4, e.g. 10.0.0.0/8=10.1.2.3", s)
	}
	p, err := ParsePrefix(cidr)
	if err != nil {
		return NetworkHost{}, err
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(host))
	if err != nil || !ip.Unmap().Is4() {
		return NetworkHost{}, fmt.Errorf("%q: PASV can only advertise an IPv4 address", host)
	}
	return NetworkHost{Network: p, Host: ip.Unmap()}, nil
}

// PassiveHost chooses the IPv4 address PASV advertises to a client that
// comes through a balancer: the first of Networks that holds the client's
// address; else, with UseDestination, the balancer address the client
// connected to (the PROXY header's destination), when it is IPv4; else
// Default. Its Resolve method is an engine.PublicIPResolver; set
// engine.Settings.PublicHost to "" for the engine to call it.
type PassiveHost struct {
	Default        string
	Networks       []NetworkHost
	UseDestination bool
}

// errNoIPv4 makes the engine answer PASV with 425 and a hint to use EPSV,
// which carries no address.
var errNoIPv4 = errors.New("the client reached the balancer over IPv6; PASV cannot express that")

// Resolve returns the address to advertise to cc's client.
func (p *PassiveHost) Resolve(cc engine.ClientContext) (string, error) {
	client := addrIP(cc.RemoteAddr())
	for _, n := range p.Networks {
		if n.Network.Contains(client) {
			return n.Host.String(), nil
		}
	}
	if info := engine.ProxyInfoOf(cc); p.UseDestination && info != nil && info.Destination != nil {
		dst := addrIP(info.Destination)
		if dst.Is4() {
			return dst.String(), nil
		}
		if p.Default == "" {
			return "", errNoIPv4
		}
	}
	if p.Default != "" {
		return p.Default, nil
	}
	// The engine's own fallback (the control connection's local
	// address) is not reachable through a resolver: say the server's.
	local := addrIP(cc.LocalAddr())
	if !local.Is4() {
		return "", errNoIPv4
	}
	return local.String(), nil
}
