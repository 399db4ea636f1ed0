package engine

import (
	"context"
	"crypto/tls"
	"strings"
)

// handleUSER starts a login (RFC 959 4.1.1).
func (s *session) handleUSER(c *Command) {
	if s.LoggedIn() {
		s.reply(530, "Already logged in; send REIN to change user.")
		return
	}
	if s.st.TLSRequired == MandatoryEncryption && !s.HasTLSForControl() {
		s.reply(530, "TLS is required: send AUTH TLS before USER.")
		return
	}
	s.mu.Lock()
	s.user = c.Arg
	s.mu.Unlock()
	if s.loginByCertificate(c.Arg) {
		return
	}
	s.reply(331, "User name okay, need password.")
}

// loginByCertificate lets a MainDriverExtensionTLSVerifier log the user in
// with the control connection's TLS client certificate, through the login
// hooks. It reports whether it answered USER.
func (s *session) loginByCertificate(user string) bool {
	if s.srv.mainExt().verifier == nil || !s.HasTLSForControl() {
		return false
	}
	s.mu.Lock()
	state := s.tlsState // set once by the handshake, never changed
	s.mu.Unlock()
	fs, l, err := s.runLogin(LoginCertificate, user, "", state)
	switch {
	case err != nil:
		s.failLogin(user, err)
	case fs == nil:
		return false
	default:
		s.completeLogin(user, fs, l)
		s.reply(232, "User "+user+" logged in, authorized by TLS client certificate.")
	}
	return true
}

// failLogin forgets the user name and refuses the login.
func (s *session) failLogin(user string, err error) {
	s.mu.Lock()
	s.user = ""
	s.mu.Unlock()
	// Debug: the driver logs the attempt with what it resolved (tenancy
	// logs one line with the tenant, the account and the reason).
	s.log.Debug("ftp: login failed", "user", user, "err", err)
	code, msg := replyFor(err, 530, "Login incorrect.")
	if code == 421 {
		s.closeWith(code, msg) // a limit, not the credentials: the session ends
		return
	}
	s.reply(code, msg)
}

// completeLogin makes fs the session's filesystem, and keeps l (nil
// without login hooks), whose releases wait for the login's end.
func (s *session) completeLogin(user string, fs ClientDriver, l *Login) {
	protected, _ := clientDriverExt[ClientDriverExtensionProtectedData](fs)
	s.mu.Lock()
	s.fs = fs
	s.protected = protected
	s.loggedIn = true
	s.login = l
	s.mu.Unlock()
	s.log.Debug("ftp: logged in", "user", user)
}

// handlePASS completes a login through the driver.
func (s *session) handlePASS(c *Command) {
	if s.LoggedIn() {
		s.reply(503, "Already logged in.")
		return
	}
	user := s.User()
	if user == "" {
		s.reply(503, "Send USER first.")
		return
	}
	fs, l, err := s.runLogin(LoginPassword, user, c.Arg, nil)
	if err != nil {
		s.failLogin(user, err)
		return
	}
	s.completeLogin(user, fs, l)
	s.reply(230, "User "+user+" logged in.")
}

// handleACCT: accounts are not used.
func (s *session) handleACCT(*Command) {
	s.reply(202, "ACCT is not needed on this server.")
}

// handleREIN returns the session to the state right after the banner,
// keeping the control connection's TLS (RFC 959 4.1.1).
func (s *session) handleREIN(*Command) {
	s.endTransfer()
	s.closePassive()
	s.closeSpare() // held for the user who logs out
	s.endLogin()
	s.mu.Lock()
	s.user, s.loggedIn, s.fs, s.protected = "", false, nil, nil
	s.path = "/"
	s.hostName = ""
	s.mu.Unlock()
	s.activeAddr = nil
	s.epsvAll = false
	s.restOffset = 0
	s.renameFrom = ""
	s.transferType = s.st.DefaultTransferType
	s.mlstFacts = defaultFacts
	s.resetExtensions() // HASH algorithm, RANG, MODE Z, SITE IDLE
	s.reply(220, "Service ready for new user.")
}

// handleQUIT says goodbye; a running transfer is waited for first (RFC 959
// 4.1.1), which the dispatcher does not do for QUIT, so it happens here.
func (s *session) handleQUIT(*Command) {
	if x := s.runningTransfer(); x != nil {
		// A transfer is finished first (RFC 959 4.1.1); a long command
		// (HASH, COMB) only computes a reply nobody will read, so it is
		// aborted, and its 426 goes out before the 221.
		if x == s.ext.job {
			x.abort()
		}
		select {
		case <-x.done:
		case <-s.ctx.Done():
		}
	}
	s.closeWith(221, "Goodbye.")
}

// handleHOST selects a virtual host (RFC 7151). It must come before login.
func (s *session) handleHOST(c *Command) {
	if s.LoggedIn() || s.User() != "" {
		s.reply(503, "HOST must be sent before USER.")
		return
	}
	host := strings.TrimSpace(c.Arg)
	if !validHostName(host) {
		s.reply(501, "Syntax error in host name.")
		return
	}
	if ext := s.srv.mainExt().host; ext != nil {
		if err := ext.CheckHost(s, host); err != nil {
			s.log.Info("ftp: HOST refused", "host", host, "err", err)
			code, msg := replyFor(err, 504, "Unknown host "+host+".")
			s.reply(code, msg)
			return
		}
	}
	s.mu.Lock()
	s.hostName = host
	s.mu.Unlock()
	s.reply(220, "Host "+host+" accepted.")
}

// validHostName accepts a DNS name or an IP literal, IPv6 in brackets.
func validHostName(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	if strings.HasPrefix(h, "[") {
		return strings.HasSuffix(h, "]") && len(h) > 2 && strings.Trim(h[1:len(h)-1], "0123456789abcdefABCDEF:.") == ""
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// handleAUTH switches the control connection to TLS (RFC 4217 4).
func (s *session) handleAUTH(c *Command) {
	switch strings.ToUpper(strings.TrimSpace(c.Arg)) {
	case "TLS", "TLS-C", "SSL":
	default:
		s.reply(504, "Unsupported security mechanism; use AUTH TLS.")
		return
	}
	if s.HasTLSForControl() {
		s.reply(503, "The control connection already uses TLS.")
		return
	}
	if s.LoggedIn() {
		s.reply(503, "AUTH must be sent before login.")
		return
	}
	if _, err := s.loadTLSConfig(); err != nil {
		s.log.Warn("ftp: no TLS configuration", "err", err)
		s.reply(534, "TLS is not available on this server.")
		return
	}
	if s.reader.Buffered() > 0 {
		// Bytes sent behind AUTH before the handshake would be run as
		// if they had come over TLS: a command injection.
		s.log.Warn("ftp: data after AUTH before the TLS handshake")
		s.closeWith(421, "Unexpected data after AUTH, closing control connection.")
		return
	}
	s.reply(234, "AUTH TLS successful.")
	if err := s.startTLS(); err != nil {
		s.log.Info("ftp: TLS handshake failed", "err", err)
		s.closeConn()
	}
}

// startTLS runs the server side of a TLS handshake on the control
// connection and makes it the connection the session uses.
func (s *session) startTLS() error {
	cfg, err := s.loadTLSConfig()
	if err != nil {
		return err
	}
	tconn := tls.Server(s.rawConn, cfg)
	ctx, cancel := context.WithTimeout(s.ctx, s.st.connectionTimeout())
	defer cancel()
	if err := tconn.HandshakeContext(ctx); err != nil {
		return err
	}
	s.writeMu.Lock()
	s.conn = tconn
	s.writeMu.Unlock()
	s.reader.Reset(tconn)
	s.mu.Lock()
	s.controlTLS = true
	state := tconn.ConnectionState()
	s.tlsState = &state
	s.tlsServerName = state.ServerName
	s.mu.Unlock()
	return nil
}

// handlePBSZ: TLS needs no protection buffer, so the size is always 0
// (RFC 4217 9).
func (s *session) handlePBSZ(c *Command) {
	if !s.HasTLSForControl() {
		s.reply(503, "PBSZ needs AUTH TLS first.")
		return
	}
	if !isDigits(strings.TrimSpace(c.Arg)) {
		s.reply(501, "PBSZ needs a number.")
		return
	}
	s.pbsz = true
	s.reply(200, "PBSZ=0")
}

// handlePROT sets the data connections' protection (RFC 4217 9).
func (s *session) handlePROT(c *Command) {
	if !s.HasTLSForControl() {
		s.reply(503, "PROT needs AUTH TLS first.")
		return
	}
	var private bool
	switch strings.ToUpper(strings.TrimSpace(c.Arg)) {
	case "C":
		if s.st.TLSRequired != ClearOrEncrypted {
			s.reply(534, "Data connections must be protected: use PROT P.")
			return
		}
	case "P":
		private = true
	case "S", "E":
		s.reply(536, "Only PROT C and PROT P are supported.")
		return
	default:
		s.reply(504, "Unknown protection level.")
		return
	}
	s.mu.Lock()
	s.transferTLS = private
	s.mu.Unlock()
	s.reply(200, "PROT "+strings.ToUpper(strings.TrimSpace(c.Arg))+" OK.")
}

// handleCCC refuses to drop the control connection's TLS: a clear control
// channel after login would expose every later command.
func (s *session) handleCCC(*Command) {
	s.reply(534, "CCC is refused by this server's policy.")
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
