// Package conf holds the small value parsers and checks that the engine,
// its plugins and the command share, so that each kind of value has one
// grammar and one implementation: network prefixes, secret-token digests,
// the throwaway self-signed certificate, and the typed configuration
// values Size, Rate and Duration, which flags (flag.TextVar) and TOML files
// decode through the same UnmarshalText. It imports only the standard
// library, and the engine does not import it.
package conf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Errors ParsePrefix returns; callers wrap them with the key or entry.
var (
	ErrPrefix       = errors.New("want a CIDR prefix or an address")
	ErrPrefixZone   = errors.New("zones are not supported")
	ErrMappedPrefix = errors.New("an IPv4-mapped prefix needs at least 96 bits")
)

// ParsePrefix parses a CIDR prefix ("10.0.0.0/8") or a single address
// (as a /32 or /128), with surrounding spaces ignored. The result is
// masked, and an IPv4-mapped IPv6 form is folded to IPv4 as clients'
// addresses are, so that "::ffff:10.0.0.0/104" and "10.0.0.0/8" name the
// same network. Zones are refused: a prefix with a zone matches nothing.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, ErrPrefix
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, ErrPrefix
		}
		if a.Zone() != "" { // PrefixFrom would drop it silently
			return netip.Prefix{}, ErrPrefixZone
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, ErrMappedPrefix
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

// TokenMatches reports whether the SHA-256 digest of token equals want,
// comparing digests in constant time so that the time taken tells nothing
// about how much of a token was right. An empty token and a want that is
// not a SHA-256 digest never match.
func TokenMatches(want []byte, token string) bool {
	if token == "" || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// SelfSigned makes a throwaway ECDSA P-256 server certificate named
// commonName for localhost and the loopback addresses, valid from an hour
// before now for validity, with its Leaf parsed. It serves the embedded
// default and tests; clients must be told to trust it explicitly.
func SelfSigned(now time.Time, commonName string, validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
