package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
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
		"PEM `file` of CA certificates: a client certificate they sign whose CN or SAN is a --user name logs that user in without a password (re-read on SIGHUP)")
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
		ids, err := gateway.ParseCipherList(h.ciphers)
		if err != nil {
			return fmt.Errorf("--tls-ciphers: %w", err)
		}
		h.cipherIDs = ids
	}
	return nil
}
