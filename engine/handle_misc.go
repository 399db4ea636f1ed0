package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// handleSYST names the system type; "UNIX Type: L8" is what clients expect
// before they parse ls-style listings.
func (s *session) handleSYST(*Command) {
	s.reply(215, "UNIX Type: L8")
}

// handleNOOP does nothing, successfully.
func (s *session) handleNOOP(*Command) {
	s.reply(200, "NOOP OK.")
}

// handleCLNT records the client's name and version.
func (s *session) handleCLNT(c *Command) {
	s.mu.Lock()
	s.clientVersion = c.Arg
	s.mu.Unlock()
	s.reply(200, "Noted.")
}

// features returns the FEAT lines (RFC 2389) for what is enabled now.
func (s *session) features() []string {
	feats := []string{"CLNT", "EPSV", "HOST", "MDTM", "REST STREAM", "SIZE", "TVFS", "UTF8"}
	if _, err := s.loadTLSConfig(); err == nil {
		feats = append(feats, "AUTH TLS", "PBSZ", "PROT")
	}
	if !s.st.DisableActiveMode {
		feats = append(feats, "EPRT")
	}
	if !s.st.DisableMFMT {
		feats = append(feats, "MFMT")
	}
	if !s.st.DisableMLSD || !s.st.DisableMLST {
		feats = append(feats, "MLST "+s.mlstFacts.featString())
	}
	if s.st.EnableHASH {
		feats = append(feats, s.hashFeature(), "XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512")
	}
	if s.hasAVBL() {
		feats = append(feats, "AVBL")
	}
	if s.st.EnableCOMB {
		feats = append(feats, "COMB")
	}
	if !s.st.DisableModeZ {
		feats = append(feats, "MODE Z")
	}
	sort.Strings(feats)
	return feats
}

// handleFEAT lists the extensions (RFC 2389 3).
func (s *session) handleFEAT(*Command) {
	s.replyLines(211, "Features:", s.features(), "End")
}

// handleOPTS sets the options of UTF8 (always on), MLST (RFC 2389 4,
// RFC 3659 7.9), HASH (handle_hash.go) and MODE Z (modez.go).
func (s *session) handleOPTS(c *Command) {
	name, value, _ := strings.Cut(strings.TrimSpace(c.Arg), " ")
	switch strings.ToUpper(name) {
	case "UTF8", "UTF-8":
		switch strings.ToUpper(strings.TrimSpace(value)) {
		case "", "ON":
			s.reply(200, "UTF8 mode is always on.")
		default:
			s.reply(504, "UTF8 cannot be turned off.")
		}
	case "MLST":
		if s.st.DisableMLSD && s.st.DisableMLST {
			s.reply(501, "MLST is not enabled.")
			return
		}
		s.mlstFacts = parseFactSet(value)
		s.reply(200, "MLST OPTS "+s.mlstFacts.optsString())
	case "HASH":
		s.optsHASH(value)
	case "MODE":
		s.optsMODE(value)
	default:
		s.reply(501, "Unknown option "+name+".")
	}
}

// handleHELP lists the commands (RFC 959 4.1.3).
func (s *session) handleHELP(c *Command) {
	if c.Arg != "" {
		verb := strings.ToUpper(strings.TrimSpace(c.Arg))
		if spec, ok := commands[verb]; ok && (spec.enabled == nil || spec.enabled(s)) {
			s.reply(214, "Command "+verb+" is supported.")
		} else {
			s.reply(502, "Command "+verb+" is not implemented.")
		}
		return
	}
	var lines []string
	var row []string
	for _, verb := range commandNames {
		if spec := commands[verb]; spec.enabled != nil && !spec.enabled(s) {
			continue
		}
		row = append(row, fmt.Sprintf("%-5s", verb))
		if len(row) == 8 {
			lines = append(lines, strings.TrimRight(strings.Join(row, " "), " "))
			row = row[:0]
		}
	}
	if len(row) > 0 {
		lines = append(lines, strings.TrimRight(strings.Join(row, " "), " "))
	}
	s.replyLines(214, "The following commands are recognized:", lines, "Help OK.")
}

// handleSTAT reports on the server, or on a file or directory over the
// control connection (RFC 959 4.1.3).
func (s *session) handleSTAT(c *Command) {
	if len(c.Paths) > 0 {
		if !s.LoggedIn() {
			s.reply(530, "Please log in with USER and PASS.")
			return
		}
		s.statPath(c.Paths[0])
		return
	}
	if s.st.DisableSTAT {
		s.reply(502, "Command not implemented: STAT.")
		return
	}
	banner := s.st.Banner
	if banner == "" {
		banner = "FTP server"
	}
	lines := []string{
		"Connected to " + s.RemoteAddr().String(),
	}
	if s.LoggedIn() {
		lines = append(lines, "Logged in as "+s.User())
	} else {
		lines = append(lines, "Not logged in")
	}
	lines = append(lines,
		"TYPE: "+s.transferType.String()+", STRUcture: File, MODE: "+s.modeName(),
		fmt.Sprintf("Control connection TLS: %v, data protection: %s", s.HasTLSForControl(), protName(s.HasTLSForTransfers())),
	)
	if x := s.runningTransfer(); x != nil {
		lines = append(lines, fmt.Sprintf("Transfer in progress: %s %s, %d bytes in %s",
			x.verb, x.path, x.bytes.Load(), time.Since(x.started).Round(time.Millisecond)))
	} else {
		lines = append(lines, "No transfer in progress")
	}
	s.replyLines(211, banner+" status:", lines, "End of status")
}

func protName(private bool) string {
	if private {
		return "private"
	}
	return "clear"
}
