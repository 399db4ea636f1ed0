package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
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
	if err := gateway.CiphersFitKey(h.cipherIDs, cfg.Certificates); err != nil {
		return fmt.Errorf("--tls-ciphers: %w", err)
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

// parseCipherList is gateway.ParseCipherList: the flag and the server
// file's tls.ciphers take one grammar.
func parseCipherList(list string) ([]uint16, error) { return gateway.ParseCipherList(list) }

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
