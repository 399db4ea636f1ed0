package tenancy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"slices"

	"github.com/ftpgate/ftpgate/engine"
)

// maxClientCAFile bounds the CA file read at start and on every reload.
const maxClientCAFile = 1 << 20

// loadClientCAs reads a PEM file of CA certificates.
func loadClientCAs(file string) (*x509.CertPool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxClientCAFile+1))
	if err != nil {
		return nil, err
	}
	if len(pem) > maxClientCAFile {
		return nil, errors.New("larger than 1 MiB")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in it")
	}
	return pool, nil
}

// serverTLS is the TLS configuration of one server certificate: TLS 1.2
// or later, the configured cipher suites, and, with client CAs, a request
// for a client certificate (one that is given must verify against them;
// none is needed: password logins go on).
func (s *state) serverTLS(cert tls.Certificate, ciphers []uint16) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: ciphers}
	if s.clientCAs != nil {
		c.ClientCAs, c.ClientAuth = s.clientCAs, tls.VerifyClientCertIfGiven
	}
	return c
}

// VerifyTLSClient implements engine.MainDriverExtensionTLSVerifier: with
// tls.client_ca, a client certificate that verified against those CAs
// (the handshake did that) logs in the account USER resolves to, without
// a password, when the certificate names that account in its common name
// or a DNS or e-mail subject alternative name: as USER@TENANT, or as
// USER alone for the default tenant's users, so that a certificate made
// for one tenant's user opens no other tenant's account of that name.
// The account must be enabled and may be refused for its network as a
// password login is. Anything else asks for a password as usual (nil,
// nil), so certificate and password logins share one server.
func (d *Driver) VerifyTLSClient(cc engine.ClientContext, login string, state tls.ConnectionState) (engine.ClientDriver, error) {
	st := d.state.Load()
	if st.clientCAs == nil || len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return nil, nil
	}
	t, name, err := resolveTenant(st, cc, login)
	if err != nil || t == nil || t.cfg.Disabled {
		return nil, nil
	}
	u := t.users[name]
	if u == nil || u.Disabled || !addrAllowed(u.AllowedCIDRs, cc.RemoteAddr()) {
		return nil, nil
	}
	cert := state.PeerCertificates[0]
	if !certNames(cert, name+"@"+t.cfg.ID) && (t.cfg.ID != st.cfg.Server.DefaultTenant || !certNames(cert, name)) {
		return nil, nil
	}
	fs, reason := d.startSession(cc, st, t, u)
	if reason != "" {
		d.Logger.Info("tenancy: certificate login failed", append(loginAttrs(cc, t.cfg.ID, name, "failed"), "reason", reason)...)
		return nil, errLoginIncorrect
	}
	return fs, nil
}

// certNames reports whether cert names account, exactly as the files
// spell it, in its common name or a DNS or e-mail subject alternative
// name.
func certNames(cert *x509.Certificate, account string) bool {
	return cert.Subject.CommonName == account || slices.Contains(cert.DNSNames, account) || slices.Contains(cert.EmailAddresses, account)
}
