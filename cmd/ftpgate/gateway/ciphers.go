package gateway

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ParseCipherList turns "NAME,NAME" into cipher suite IDs. Only the suites
// Go deems secure and that TLS 1.2 uses are accepted: TLS 1.3's suites
// are not configurable in Go, and the insecure ones (RC4, 3DES, CBC with
// SHA-256, RSA key exchange without forward secrecy listed by
// tls.InsecureCipherSuites) are refused by name.
func ParseCipherList(list string) ([]uint16, error) {
	var ids []uint16
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, errors.New("empty name in the list")
		}
		id, err := cipherSuiteID(name)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ids, id) {
			return nil, fmt.Errorf("%s listed twice", name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// CiphersFitKey fails when no listed suite can use the certificate's key:
// TLS 1.2 clients would all fail their handshake, with no hint why.
func CiphersFitKey(ids []uint16, certs []tls.Certificate) error {
	if len(ids) == 0 || len(certs) == 0 {
		return nil
	}
	var kind string
	switch certs[0].PrivateKey.(type) {
	case *ecdsa.PrivateKey:
		kind = "_ECDSA_"
	case *rsa.PrivateKey:
		kind = "_RSA_"
	default:
		return nil
	}
	for _, id := range ids {
		if strings.Contains(tls.CipherSuiteName(id), kind) {
			return nil
		}
	}
	return fmt.Errorf("no suite in the list fits the certificate's %s key (want a name with %s)",
		strings.Trim(strings.ToLower(kind), "_"), kind)
}

// cipherSuiteID looks one suite up by its Go name.
func cipherSuiteID(name string) (uint16, error) {
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == name {
			return 0, fmt.Errorf("%s is insecure and not allowed", name)
		}
	}
	for _, cs := range tls.CipherSuites() {
		if cs.Name != name {
			continue
		}
		if !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			return 0, fmt.Errorf("%s is a TLS 1.3 suite, which Go always enables and does not let you choose", name)
		}
		return cs.ID, nil
	}
	return 0, fmt.Errorf("unknown cipher suite %q (Go names, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)", name)
}
