package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// addrIP returns the IP of a TCP address, IPv4-mapped addresses unmapped.
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// sameClient reports whether a data connection's peer is the client of
// the control connection, as PasvConnectionsCheck demands.
func (s *session) sameClient(a net.Addr) bool {
	if s.st.PasvConnectionsCheck == IPMatchDisabled {
		return true
	}
	return addrIP(a) == addrIP(s.RemoteAddr())
}

// setPassive makes p the data channel of the next transfer, replacing
// whatever was prepared before.
func (s *session) setPassive(p *passiveListener) {
	s.closePassive()
	s.activeAddr = nil
	s.pasv = p
	s.mu.Lock()
	s.lastDataChannel = DataChannelPassive
	s.mu.Unlock()
}

// setActive makes addr the data channel of the next transfer.
func (s *session) setActive(addr *net.TCPAddr) {
	s.closePassive()
	s.activeAddr = addr
	s.mu.Lock()
	s.lastDataChannel = DataChannelActive
	s.mu.Unlock()
}

// closePassive closes a passive listener that no transfer has used.
func (s *session) closePassive() {
	if s.pasv != nil {
		s.pasv.close()
		s.pasv = nil
	}
}

// openDataConn opens the transfer's data connection, and its TLS when
// PROT P is in effect.
func (s *session) openDataConn(ctx context.Context, x *transfer) (net.Conn, error) {
	deadline := time.Now().Add(s.st.connectionTimeout())
	var conn net.Conn
	var err error
	if x.pasv != nil {
		conn, err = x.pasv.accept(deadline, s.sameClient, func(a net.Addr) {
			s.log.Warn("ftp: refused a passive data connection from another address", "from", a.String())
		})
		if x.pasv.kept {
			s.keepSpare(x.pasv.port, x.pasv.own, x.pasv.raw, x.pasv.hold)
		}
	} else {
		conn, err = s.dialActive(ctx, x.active, deadline)
	}
	if err != nil {
		return nil, err
	}
	if !x.setConn(conn) {
		return nil, ErrTransferAborted
	}
	if !s.HasTLSForTransfers() {
		return conn, nil
	}
	cfg, err := s.loadTLSConfig()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	tconn := tls.Server(conn, cfg)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := tconn.HandshakeContext(hctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if err := s.checkDataTLS(tconn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if !x.setConn(tconn) {
		return nil, ErrTransferAborted
	}
	return tconn, nil
}

// dialActive connects to the client's PORT/EPRT address. Unless
// ActiveTransferPortNon20 is set, it first tries to leave from port 20 as
// RFC 959 expects; where that port cannot be bound it stops trying.
func (s *session) dialActive(ctx context.Context, addr *net.TCPAddr, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline, KeepAlive: -1} // as listenData
	if !s.st.ActiveTransferPortNon20 && !s.srv.noPort20.Load() {
		local := addrIP(s.LocalAddr())
		d20 := d
		d20.LocalAddr = &net.TCPAddr{IP: local.AsSlice(), Zone: local.Zone(), Port: 20}
		d20.Control = reuseAddr
		conn, err := d20.DialContext(ctx, "tcp", addr.String())
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EPERM) {
			return nil, err
		}
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			s.srv.noPort20.Store(true)
			s.log.Info("ftp: cannot bind port 20 for active mode; using any port", "err", err)
		}
	}
	return d.DialContext(ctx, "tcp", addr.String())
}

// dataConnErrorText says in a few words why a data connection failed.
func dataConnErrorText(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errPassiveExpired):
		return "the passive port expired unused; send PASV or EPSV again."
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused."
	case errors.As(err, new(tls.RecordHeaderError)), errors.As(err, new(tls.AlertError)):
		return "TLS handshake failed."
	default:
		return "connection failed."
	}
}

// handlePASV opens a passive listener and advertises it (RFC 959 4.1.1).
// PASV can only express IPv4 addresses.
func (s *session) handlePASV(*Command) {
	if s.epsvAll {
		s.reply(503, "EPSV ALL is in effect: use EPSV.")
		return
	}
	ip, err := s.passiveIPv4()
	if err != nil {
		s.log.Info("ftp: PASV has no IPv4 address to advertise", "err", err)
		s.reply(425, "PASV needs an IPv4 address; use EPSV.")
		return
	}
	p, err := s.listenPassive("PASV")
	if err != nil {
		s.passiveFailed(err)
		return
	}
	s.setPassive(p)
	a := ip.As4()
	s.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], p.port>>8, p.port&0xff))
}

// passiveIPv4 returns the address PASV advertises: PublicHost, the
// resolver's answer, or the control connection's local address.
func (s *session) passiveIPv4() (netip.Addr, error) {
	host := s.st.PublicHost
	if host == "" && s.st.PublicIPResolver != nil {
		h, err := s.st.PublicIPResolver(s)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("public IP resolver: %w", err)
		}
		host = h
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("public host %q is not an IPv4 address", host)
		}
		return ip.Unmap(), nil
	}
	ip := addrIP(s.LocalAddr())
	if !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("the control connection is IPv6 (%s)", ip)
	}
	return ip, nil
}

// handleEPSV opens a passive listener and advertises its port (RFC 2428 3).
func (s *session) handleEPSV(c *Command) {
	switch arg := c.Arg; arg {
	case "":
	case "ALL", "all":
		s.epsvAll = true
		s.reply(200, "EPSV ALL OK.")
		return
	case "1", "2":
		if want := addrIP(s.reachedAddr()).Is4(); want != (arg == "1") {
			s.reply(522, "Network protocol not supported, use ("+familyNumber(s.reachedAddr())+").")
			return
		}
	default:
		s.reply(522, "Network protocol not supported, use ("+familyNumber(s.reachedAddr())+").")
		return
	}
	p, err := s.listenPassive("EPSV")
	if err != nil {
		s.passiveFailed(err)
		return
	}
	s.setPassive(p)
	s.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|).", p.port))
}

// reachedAddr is the address the client connected to: the balancer's,
// from the PROXY header, when there is one, else the control connection's
// local address. EPSV's protocol numbers are about the client's side,
// which behind a balancer may be IPv6 while ours is IPv4, or the reverse.
func (s *session) reachedAddr() net.Addr {
	if p := s.proxy; p != nil && !p.Local && p.Destination != nil {
		return p.Destination
	}
	return s.LocalAddr()
}

// familyNumber names the RFC 2428 protocol of an address: "1" for IPv4,
// "2" for IPv6.
func familyNumber(a net.Addr) string {
	if addrIP(a).Is4() {
		return "1"
	}
	return "2"
}

// handlePORT records an IPv4 address to connect to (RFC 959 4.1.2).
func (s *session) handlePORT(c *Command) {
	if s.epsvAll {
		s.reply(503, "EPSV ALL is in effect: use EPSV.")
		return
	}
	addr, err := parsePORT(c.Arg)
	if err != nil {
		s.reply(501, "Syntax error in PORT: "+err.Error())
		return
	}
	s.acceptActive(addr)
}

// handleEPRT records an IPv4 or IPv6 address to connect to (RFC 2428 2).
func (s *session) handleEPRT(c *Command) {
	if s.epsvAll {
		s.reply(503, "EPSV ALL is in effect: use EPSV.")
		return
	}
	addr, err := parseEPRT(c.Arg)
	if errors.Is(err, errUnknownProtocol) {
		s.reply(522, "Network protocol not supported, use (1,2).")
		return
	}
	if err != nil {
		s.reply(501, "Syntax error in EPRT: "+err.Error())
		return
	}
	s.acceptActive(addr)
}

// acceptActive checks an active-mode address against FTP bounce attacks:
// no privileged port, and, unless ActiveConnectionsCheck is disabled, only
// the client's own address.
func (s *session) acceptActive(addr netip.AddrPort) {
	if addr.Port() < 1024 {
		s.reply(504, "Active mode to a privileged port is refused.")
		return
	}
	if s.st.ActiveConnectionsCheck != IPMatchDisabled && addr.Addr().Unmap() != addrIP(s.RemoteAddr()) {
		s.log.Warn("ftp: refused active mode to another address", "to", addr.String())
		s.reply(504, "Active mode to an address other than yours is refused.")
		return
	}
	s.setActive(net.TCPAddrFromAddrPort(addr))
	s.reply(200, "Active mode to "+addr.String()+" OK.")
}

// errUnknownProtocol is parseEPRT's error for a protocol other than 1 and 2.
var errUnknownProtocol = errors.New("unknown network protocol")

// parsePORT parses "h1,h2,h3,h4,p1,p2".
func parsePORT(arg string) (netip.AddrPort, error) {
	var v [6]byte
	field := 0
	start := 0
	for i := 0; i <= len(arg); i++ {
		if i < len(arg) && arg[i] != ',' {
			continue
		}
		if field == 6 {
			return netip.AddrPort{}, errors.New("six numbers expected")
		}
		n, err := strconv.ParseUint(arg[start:i], 10, 8)
		if err != nil || !isDigits(arg[start:i]) {
			return netip.AddrPort{}, errors.New("numbers 0-255 separated by commas expected")
		}
		v[field] = byte(n)
		field++
		start = i + 1
	}
	if field != 6 {
		return netip.AddrPort{}, errors.New("six numbers expected")
	}
	ip := netip.AddrFrom4([4]byte{v[0], v[1], v[2], v[3]})
	return netip.AddrPortFrom(ip, uint16(v[4])<<8|uint16(v[5])), nil
}

// parseEPRT parses "<d>proto<d>address<d>port<d>" where d is any printable
// ASCII character (RFC 2428 2).
func parseEPRT(arg string) (netip.AddrPort, error) {
	if len(arg) < 4 || arg[0] < 33 || arg[0] > 126 {
		return netip.AddrPort{}, errors.New("a delimiter is expected first")
	}
	d := arg[0]
	var parts [4]string
	n := 0
	start := 1
	for i := 1; i < len(arg); i++ {
		if arg[i] != d {
			continue
		}
		if n == 3 {
			return netip.AddrPort{}, errors.New("too many fields")
		}
		parts[n] = arg[start:i]
		n++
		start = i + 1
	}
	if n != 3 || start != len(arg) {
		return netip.AddrPort{}, errors.New("three fields between delimiters expected")
	}
	proto, host, portText := parts[0], parts[1], parts[2]
	if proto != "1" && proto != "2" {
		return netip.AddrPort{}, errUnknownProtocol
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, errors.New("bad network address")
	}
	if (proto == "1") != ip.Is4() {
		return netip.AddrPort{}, errors.New("address does not match the protocol")
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || !isDigits(portText) || port == 0 {
		return netip.AddrPort{}, errors.New("bad port")
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
