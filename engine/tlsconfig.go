package engine

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
)

// ticketMarker prefixes the session identity that ticket-bound sessions
// store in a TLS session ticket (tls.SessionState.Extra).
var ticketMarker = []byte("ftpgate-control-session:")

// errTLSSessionNotReused refuses a data connection whose TLS handshake did
// not resume the control connection's session.
var errTLSSessionNotReused = &ReplyError{Code: 522, Message: "Data connection refused: its TLS session must resume the control connection's (session reuse required)."}

// loadTLSConfig returns the session's TLS configuration, built once from
// the driver's.
func (s *session) loadTLSConfig() (*tls.Config, error) {
	if s.tlsConfig != nil {
		return s.tlsConfig, nil
	}
	base, err := s.srv.Driver.GetTLSConfig()
	if err != nil {
		return nil, err
	}
	if base == nil {
		return nil, errors.New("the driver offers no TLS configuration")
	}
	s.tlsConfig, err = s.sessionTLSConfig(base)
	return s.tlsConfig, err
}

// sessionTLSConfig adapts the driver's configuration to one session: TLS
// 1.2 at least, and with RequireTLSSessionReuse, session tickets that only
// this session can resume. Configurations that the driver's
// GetConfigForClient picks (per-SNI certificates) are adapted the same way.
func (s *session) sessionTLSConfig(base *tls.Config) (*tls.Config, error) {
	cfg := base.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if !s.st.RequireTLSSessionReuse {
		if get := base.GetConfigForClient; get != nil {
			cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				c, err := get(hello)
				if err != nil || c == nil || c.MinVersion >= tls.VersionTLS12 {
					return c, err
				}
				c = c.Clone()
				c.MinVersion = tls.VersionTLS12
				return c, nil
			}
		}
		return cfg, nil
	}
	if cfg.SessionTicketsDisabled {
		return nil, errors.New("RequireTLSSessionReuse needs session tickets, which the TLS configuration disables")
	}
	identity := make([]byte, len(ticketMarker)+16)
	copy(identity, ticketMarker)
	if _, err := rand.Read(identity[len(ticketMarker):]); err != nil {
		return nil, err
	}
	// The tickets are sealed with the keys of cfg alone, whichever
	// configuration runs the handshake, so that a client cannot tell or
	// forge the identity they carry.
	keys := cfg
	bind := func(c *tls.Config) {
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			extra := ss.Extra[:0:0]
			for _, e := range ss.Extra {
				if !bytes.HasPrefix(e, ticketMarker) {
					extra = append(extra, e)
				}
			}
			ss.Extra = append(extra, identity)
			return keys.EncryptTicket(cs, ss)
		}
		c.UnwrapSession = func(ticket []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := keys.DecryptTicket(ticket, cs)
			if err != nil || ss == nil {
				return nil, nil // not ours: a full handshake, then refusal
			}
			for _, e := range ss.Extra {
				if bytes.Equal(e, identity) {
					return ss, nil
				}
			}
			s.log.Warn("ftp: a TLS session of another control connection was offered")
			return nil, nil
		}
	}
	bind(cfg)
	if get := base.GetConfigForClient; get != nil {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if err != nil || c == nil {
				return c, err
			}
			c = c.Clone()
			if c.MinVersion < tls.VersionTLS12 {
				c.MinVersion = tls.VersionTLS12
			}
			bind(c)
			return c, nil
		}
	}
	return cfg, nil
}

// checkDataTLS enforces RequireTLSSessionReuse on a data connection's
// completed handshake.
func (s *session) checkDataTLS(conn *tls.Conn) error {
	if s.st.RequireTLSSessionReuse && !conn.ConnectionState().DidResume {
		return errTLSSessionNotReused
	}
	return nil
}
