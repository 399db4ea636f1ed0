package engine

import "strconv"

// handleAVBL gives the bytes available in a directory (the working one by
// default), as the draft-peterson-streamlined-ftp-command-extensions and
// Serv-U define it: `213 <bytes>`. Only drivers with
// ClientDriverExtensionAvailableSpace can tell, so the others get 502 and
// FEAT does not list AVBL for them.
func (s *session) handleAVBL(c *Command) {
	ext, ok := clientDriverExt[ClientDriverExtensionAvailableSpace](s.driver())
	if !ok {
		s.reply(502, "Command not implemented: AVBL.")
		return
	}
	p := c.Paths[0]
	n, err := ext.GetAvailableSpace(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.reply(213, strconv.FormatInt(max(n, 0), 10))
}

// hasAVBL reports whether the logged-in session's driver can answer AVBL.
func (s *session) hasAVBL() bool {
	_, ok := clientDriverExt[ClientDriverExtensionAvailableSpace](s.driver())
	return ok
}
