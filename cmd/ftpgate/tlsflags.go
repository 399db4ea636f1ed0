package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ftpgate/ftpgate/engine"
)

// hardening holds the flags of `ftpgate serve` that harden TLS and data
// connections beyond the defaults.
type hardening struct {
	sessionReuse bool
	ciphers      string
	cipherIDs    []uint16 // parsed from ciphers by validate
	clientCA     string
	multiplex    bool
}

// register adds the flags to fs.
func (h *hardening) register(fs *flag.FlagSet) {
	fs.BoolVar(&h.sessionReuse, "tls-session-reuse", false,
		"require TLS data connections to resume the control connection's TLS session (as vsftpd's require_ssl_reuse; lftp and curl can, Python's ftplib cannot)")
	fs.StringVar(&h.ciphers, "tls-ciphers", "",
		"comma-separated `list` of TLS 1.2 cipher suites by Go name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (default: Go's)")
	fs.StringVar(&h.clientCA, "tls-client-ca", "",
		"PEM `file` of CA certificates: a client certificate they sign whose CN or SAN is a --user name logs that user in without a password")
	fs.BoolVar(&h.multiplex, "passive-multiplex", false,
		"let clients of different IPs share the --passive-ports (each connection goes to the session that reserved the port for its IP)")
}

// validate checks the flags; hasPassiveRange says whether --passive-ports
// was given.
func (h *hardening) validate(hasPassiveRange bool) error {
	if h.multiplex && !hasPassiveRange {
		return errors.New("--passive-multiplex needs --passive-ports")
	}
	if h.ciphers != "" {
		ids, err := parseCipherList(h.ciphers)
		if err != nil {
			return fmt.Errorf("--tls-ciphers: %w", err)
		}
		h.cipherIDs = ids
	}
	return nil
}

// apply sets the engine settings the flags ask for.
func (h *hardening) apply(st *engine.Settings) {
	st.RequireTLSSessionReuse = h.sessionReuse
	st.PassiveTransferPortMultiplexing = h.multiplex
}

// configure sets the cipher list and, with --tls-client-ca, asks clients
// for certificates and verifies those they give against the CAs. A client
// without one still logs in with a password.
func (h *hardening) configure(cfg *tls.Config) error {
	cfg.CipherSuites = h.cipherIDs
	if err := ciphersFitKey(h.cipherIDs, cfg.Certificates); err != nil {
		return err
	}
	if h.clientCA == "" {
		return nil
	}
	pem, err := os.ReadFile(h.clientCA)
	if err != nil {
		return fmt.Errorf("--tls-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", h.clientCA)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return nil
}

// parseCipherList turns "NAME,NAME" into cipher suite IDs. Only the suites
// Go deems secure and that TLS 1.2 uses are accepted: TLS 1.3's suites
// are not configurable in Go, and the insecure ones (RC4, 3DES, CBC with
// SHA-256, RSA key exchange without forward secrecy listed by
// tls.InsecureCipherSuites) are refused by name.
func parseCipherList(list string) ([]uint16, error) {
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

// ciphersFitKey fails when no listed suite can use the certificate's key:
// TLS 1.2 clients would all fail their handshake, with no hint why.
func ciphersFitKey(ids []uint16, certs []tls.Certificate) error {
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
	return fmt.Errorf("--tls-ciphers: no suite in the list fits the certificate's %s key (want a name with %s)",
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

// VerifyTLSClient logs a user in by client certificate: the certificate
// must have been verified against --tls-client-ca (the TLS handshake did
// that), and its common name or one of its DNS or e-mail names must be the
// user's name, which must be a --user. Anything else falls back to the
// password, so certificate and password users share one server.
func (d *singleRootDriver) VerifyTLSClient(_ engine.ClientContext, user string, state tls.ConnectionState) (engine.ClientDriver, error) {
	if len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return nil, nil
	}
	if _, known := d.users[user]; !known {
		return nil, nil
	}
	if certNames(state.PeerCertificates[0], user) {
		return d.fs, nil
	}
	return nil, nil
}

// certNames reports whether cert names user in its common name or in a
// DNS or e-mail subject alternative name.
func certNames(cert *x509.Certificate, user string) bool {
	return cert.Subject.CommonName == user ||
		slices.Contains(cert.DNSNames, user) ||
		slices.Contains(cert.EmailAddresses, user)
}
