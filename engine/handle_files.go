package engine

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// fsErrorReply answers a failed filesystem call: the driver's *ReplyError
// when it gave one, else 550 with what went wrong in general terms. The
// driver's own error text can name real paths, so it only goes to the log.
func (s *session) fsErrorReply(err error, subject string) int {
	var msg string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = subject + ": no such file or directory."
	case errors.Is(err, fs.ErrExist):
		msg = subject + ": already exists."
	case errors.Is(err, fs.ErrPermission):
		msg = subject + ": permission denied."
	default:
		msg = subject + ": operation failed."
	}
	return s.replyError(err, 550, msg)
}

// handlePWD names the working directory (RFC 959 4.1.3).
func (s *session) handlePWD(*Command) {
	s.reply(257, quotePath(s.Path())+" is the current directory.")
}

// handleCWD changes the working directory; CDUP comes here with "..".
func (s *session) handleCWD(c *Command) {
	p := c.Paths[0]
	fi, err := s.driver().Stat(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	if !fi.IsDir() {
		s.reply(550, p+": not a directory.")
		return
	}
	s.SetPath(p)
	s.reply(250, "Directory changed to "+p+".")
}

// handleMKD creates a directory.
func (s *session) handleMKD(c *Command) {
	p := c.Paths[0]
	if err := s.driver().Mkdir(p, 0o755); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.reply(257, quotePath(p)+" directory created.")
}

// handleRMD removes an empty directory.
func (s *session) handleRMD(c *Command) {
	p := c.Paths[0]
	if p == "/" {
		s.reply(550, "The root directory cannot be removed.")
		return
	}
	drv := s.driver()
	fi, err := drv.Stat(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	if !fi.IsDir() {
		s.reply(550, p+": not a directory.")
		return
	}
	// Some filesystems (afero's MemMapFs, object stores) remove a
	// directory that still has entries; RMD must not, whatever the driver.
	empty, err := dirIsEmpty(drv, p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	if !empty {
		s.reply(550, p+": directory not empty.")
		return
	}
	if err := drv.Remove(p); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.reply(250, "Directory "+p+" removed.")
}

// dirIsEmpty reports whether the directory p has no entries.
func dirIsEmpty(drv ClientDriver, p string) (bool, error) {
	d, err := drv.Open(p)
	if err != nil {
		return false, err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return len(names) == 0, nil
}

// handleDELE deletes a file.
func (s *session) handleDELE(c *Command) {
	p := c.Paths[0]
	drv := s.driver()
	fi, err := lstat(drv, p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	if fi.IsDir() {
		s.reply(550, p+": is a directory; use RMD.")
		return
	}
	if err := drv.Remove(p); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.reply(250, "File "+p+" deleted.")
}

// handleRNFR remembers the source of a rename.
func (s *session) handleRNFR(c *Command) {
	p := c.Paths[0]
	if p == "/" {
		s.reply(550, "The root directory cannot be renamed.")
		return
	}
	if _, err := lstat(s.driver(), p); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.renameFrom = p
	s.reply(350, "Ready for RNTO.")
}

// handleRNTO renames the RNFR source.
func (s *session) handleRNTO(c *Command) {
	if len(c.Paths) < 2 {
		s.reply(503, "Send RNFR first.")
		return
	}
	from, to := c.Paths[0], c.Paths[1]
	s.renameFrom = ""
	if to == "/" {
		s.reply(553, "Cannot rename onto the root directory.")
		return
	}
	if err := s.driver().Rename(from, to); err != nil {
		s.fsErrorReply(err, to)
		return
	}
	s.reply(250, "Renamed "+from+" to "+to+".")
}

// statRegular stats p and answers for the command when p is missing or
// not a regular file; ok says whether the command may go on.
func (s *session) statRegular(drv ClientDriver, p string) (fi os.FileInfo, ok bool) {
	fi, err := drv.Stat(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return nil, false
	}
	if !fi.Mode().IsRegular() {
		s.reply(550, p+": not a regular file.")
		return nil, false
	}
	return fi, true
}

// handleSIZE gives a file's size in bytes (RFC 3659 4).
func (s *session) handleSIZE(c *Command) {
	p := c.Paths[0]
	fi, ok := s.statRegular(s.driver(), p)
	if !ok {
		return
	}
	s.reply(213, strconv.FormatInt(fi.Size(), 10))
}

// mdtmLayout is the time format of MDTM and MFMT (RFC 3659 2.3), in UTC.
const mdtmLayout = "20060102150405"

// parseMDTMTime parses "YYYYMMDDHHMMSS" with an optional ".sss" fraction.
func parseMDTMTime(v string) (time.Time, bool) {
	whole, frac, hasFrac := strings.Cut(v, ".")
	if len(whole) != len(mdtmLayout) || !isDigits(whole) || hasFrac && (frac == "" || len(frac) > 9 || !isDigits(frac)) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(mdtmLayout, whole, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	if hasFrac {
		ns, _ := strconv.Atoi((frac + "000000000")[:9])
		t = t.Add(time.Duration(ns))
	}
	return t, true
}

// splitTimeArg splits "TIME path" when the first word is an MDTM time.
func splitTimeArg(arg string) (t time.Time, rest string, ok bool) {
	first, rest, found := strings.Cut(arg, " ")
	if !found || rest == "" {
		return time.Time{}, "", false
	}
	t, ok = parseMDTMTime(first)
	return t, rest, ok
}

// mdtmPaths resolves MDTM's argument: a path, or, with MFMT enabled, a
// time and a path (the form that sets the time).
func mdtmPaths(s *session, c *Command) string {
	if _, rest, ok := splitTimeArg(c.Arg); ok && !s.st.DisableMFMT {
		c.params, _, _ = strings.Cut(c.Arg, " ")
		c.Paths = []string{resolvePath(s.Path(), rest)}
		return ""
	}
	c.Paths = []string{resolvePath(s.Path(), c.Arg)}
	return ""
}

// mfmtPaths resolves MFMT's "TIME path".
func mfmtPaths(s *session, c *Command) string {
	_, rest, ok := splitTimeArg(c.Arg)
	if !ok {
		return "Syntax error: MFMT needs YYYYMMDDHHMMSS and a path."
	}
	c.params, _, _ = strings.Cut(c.Arg, " ")
	c.Paths = []string{resolvePath(s.Path(), rest)}
	return ""
}

// handleMDTM gives a file's modification time, or sets it when given one.
func (s *session) handleMDTM(c *Command) {
	if c.params != "" {
		s.setModTime(c, 213)
		return
	}
	p := c.Paths[0]
	fi, err := s.driver().Stat(p)
	if err != nil {
		if _, _, isSet := splitTimeArg(c.Arg); isSet && s.st.DisableMFMT {
			// No file has the whole argument as its name: the client
			// meant the set form, which this server does not offer.
			s.reply(501, "MDTM with a time is disabled here (no MFMT); MDTM takes only a path.")
			return
		}
		s.fsErrorReply(err, p)
		return
	}
	s.reply(213, fi.ModTime().UTC().Format(mdtmLayout))
}

// handleMFMT sets a file's modification time (draft-somers-ftp-mfxx).
func (s *session) handleMFMT(c *Command) {
	s.setModTime(c, 213)
}

func (s *session) setModTime(c *Command, code int) {
	t, _ := parseMDTMTime(c.params)
	p := c.Paths[0]
	drv := s.driver()
	if err := drv.Chtimes(p, t, t); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	if c.Verb == "MFMT" {
		s.reply(code, "Modify="+c.params+"; "+p)
		return
	}
	s.reply(code, t.UTC().Format(mdtmLayout))
}

// lstat returns a file's own information, not its link target's, when
// the driver can tell them apart.
func lstat(drv ClientDriver, p string) (os.FileInfo, error) {
	if ls, ok := drv.(interface {
		LstatIfPossible(string) (os.FileInfo, bool, error)
	}); ok {
		fi, _, err := ls.LstatIfPossible(p)
		return fi, err
	}
	return drv.Stat(p)
}
