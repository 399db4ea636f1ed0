package engine

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// SITE subcommands (RFC 959 4.1.3 leaves them to the server). The engine
// implements CHMOD, CHOWN, SYMLINK, MKDIR, RMDIR, IDLE and HELP; a driver
// with ClientDriverExtensionSite answers the others. The built-in ones
// come first: their work is already done by the driver's own methods
// (Chmod, Chown, Symlink, MkdirAll, Remove), and refusing them for some
// users is what CommandHooks are for, since the hooks see their resolved
// paths in Command.Paths.

// maxSiteIdle bounds SITE IDLE when the server has no idle timeout.
const maxSiteIdle = 24 * time.Hour

// siteHelp lists the built-in subcommands for SITE HELP.
var siteHelp = []string{
	"CHMOD <octal mode 000-777> <path>",
	"CHOWN <user>[:<group>] <path>",
	"SYMLINK <target> <link>",
	"MKDIR <path>",
	"RMDIR <path>",
	"IDLE [<seconds>]",
	"HELP",
}

// unquoteArg removes the double quotes some clients put around a path.
func unquoteArg(p string) string {
	if strings.HasPrefix(p, `"`) {
		if w, tail, found := cutQuoted(p); found && w != "" && strings.TrimSpace(tail) == "" {
			return w
		}
	}
	return p
}

// parseOctalMode parses SITE CHMOD's mode: one to four octal digits.
func parseOctalMode(v string) (os.FileMode, bool) {
	if len(v) == 0 || len(v) > 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 8, 16)
	if err != nil {
		return 0, false
	}
	mode := os.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if n&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if n&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode, true
}

// sitePaths splits SITE's subcommand off and resolves its paths, so that
// the command hooks see them: CHMOD and CHOWN have one after their first
// word, MKDIR and RMDIR one, SYMLINK two (target first; either may be
// quoted). params holds the subcommand and its non-path word.
func sitePaths(s *session, c *Command) string {
	sub, rest, _ := strings.Cut(strings.TrimSpace(c.Arg), " ")
	sub = strings.ToUpper(sub)
	rest = strings.TrimSpace(rest)
	switch sub {
	case "CHMOD", "CHOWN":
		word, p, _ := strings.Cut(rest, " ")
		p = unquoteArg(strings.TrimSpace(p))
		if word == "" || p == "" {
			return "Syntax error: SITE " + sub + " needs " + map[string]string{"CHMOD": "a mode", "CHOWN": "an owner"}[sub] + " and a path."
		}
		if _, ok := parseOctalMode(word); sub == "CHMOD" && !ok {
			return "Syntax error: SITE CHMOD needs an octal mode such as 644."
		}
		c.params = sub + " " + word
		c.Paths = []string{resolvePath(s.Path(), p)}
	case "MKDIR", "RMDIR":
		p := unquoteArg(rest)
		if p == "" {
			return "Syntax error: SITE " + sub + " needs a path."
		}
		c.params = sub
		c.Paths = []string{resolvePath(s.Path(), p)}
	case "SYMLINK":
		words, ok := splitQuotedArgs(rest)
		if !ok || len(words) != 2 {
			return `Syntax error: SITE SYMLINK needs a target and a link name ("target" "link").`
		}
		c.params = sub
		c.Paths = []string{resolvePath(s.Path(), words[0]), resolvePath(s.Path(), words[1])}
	default:
		c.params = sub
	}
	return ""
}

// handleSITE runs a SITE subcommand.
func (s *session) handleSITE(c *Command) {
	sub, word, _ := strings.Cut(c.params, " ")
	switch sub {
	case "CHMOD":
		s.siteCHMOD(word, c.Paths[0])
	case "CHOWN":
		s.siteCHOWN(word, c.Paths[0])
	case "SYMLINK":
		s.siteSYMLINK(c.Paths[0], c.Paths[1])
	case "MKDIR":
		p := c.Paths[0]
		if err := s.driver().MkdirAll(p, 0o755); err != nil {
			s.fsErrorReply(err, p)
			return
		}
		s.reply(200, "Directory "+p+" created.")
	case "RMDIR":
		// The same as RMD: only an empty directory goes.
		s.handleRMD(c)
	case "IDLE":
		_, arg, _ := strings.Cut(strings.TrimSpace(c.Arg), " ")
		s.siteIDLE(strings.TrimSpace(arg))
	case "HELP":
		s.replyLines(214, "SITE subcommands:", siteHelp, "End of SITE help.")
	default:
		s.siteCustom(c)
	}
}

// siteCustom passes a subcommand the engine does not know to the driver.
func (s *session) siteCustom(c *Command) {
	sub, arg, _ := strings.Cut(strings.TrimSpace(c.Arg), " ")
	sub = strings.ToUpper(sub)
	if ext, ok := clientDriverExt[ClientDriverExtensionSite](s.driver()); ok {
		code, msg, handled := ext.Site(s, sub, strings.TrimSpace(arg))
		if handled {
			if code < 200 || code > 599 {
				// A preliminary or invalid code would leave the
				// client waiting for a reply that never comes.
				code = 550
			}
			if msg == "" {
				msg = "SITE " + sub + "."
			}
			s.reply(code, msg)
			return
		}
	}
	s.reply(504, "SITE "+sanitizeMessage(sub)+" is not implemented; see SITE HELP.")
}

// siteCHMOD sets permission bits. Setuid, setgid and sticky are refused
// (504) whatever the driver: through FTP they serve no file-transfer
// purpose, and on a server running as root they would let a user make
// setuid programs (SITE CHOWN 0 then CHMOD 4755).
func (s *session) siteCHMOD(word, p string) {
	mode, _ := parseOctalMode(word)
	if mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		s.reply(504, "SITE CHMOD "+word+": only permission bits (000 to 777) may be set; setuid, setgid and sticky are refused.")
		return
	}
	if err := s.driver().Chmod(p, mode); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.reply(200, fmt.Sprintf("Mode of %s set to %s.", p, word))
}

// parseOwner parses SITE CHOWN's `user[:group]`, numbers or names; -1
// leaves that id unchanged (":group" changes only the group).
func parseOwner(owner string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(owner, ":")
	uid, gid = -1, -1
	if u == "" && (!hasGroup || g == "") {
		return 0, 0, fmt.Errorf("empty owner")
	}
	if u != "" {
		if uid, err = lookupID(u, func(name string) (string, error) {
			usr, err := user.Lookup(name)
			if err != nil {
				return "", err
			}
			return usr.Uid, nil
		}); err != nil {
			return 0, 0, err
		}
	}
	if hasGroup && g != "" {
		if gid, err = lookupID(g, func(name string) (string, error) {
			grp, err := user.LookupGroup(name)
			if err != nil {
				return "", err
			}
			return grp.Gid, nil
		}); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookupID returns a numeric id as it is, or resolves a name.
func lookupID(v string, lookup func(string) (string, error)) (int, error) {
	if !isDigits(v) {
		id, err := lookup(v)
		if err != nil {
			return 0, err
		}
		v = id
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad id %q", v)
	}
	return n, nil
}

func (s *session) siteCHOWN(owner, p string) {
	uid, gid, err := parseOwner(owner)
	if err != nil {
		s.reply(550, "SITE CHOWN: unknown user or group "+owner+".")
		return
	}
	if err := s.driver().Chown(p, uid, gid); err != nil {
		s.fsErrorReply(err, p)
		return
	}
	s.reply(200, "Owner of "+p+" set to "+owner+".")
}

// siteSYMLINK makes link point to target; both are resolved, clean paths
// inside the session's root, so a driver that stores them relative to
// its root cannot be led outside it.
func (s *session) siteSYMLINK(target, link string) {
	ext, ok := clientDriverExt[ClientDriverExtensionSymlink](s.driver())
	if !ok {
		s.reply(502, "SITE SYMLINK is not supported by this server's storage.")
		return
	}
	if link == "/" {
		s.reply(553, "Cannot replace the root directory.")
		return
	}
	if err := ext.Symlink(target, link); err != nil {
		s.fsErrorReply(err, link)
		return
	}
	s.reply(200, "Symbolic link "+link+" -> "+target+" created.")
}

// idleTimeout returns the session's idle limit: SITE IDLE's choice, else
// the server's; 0 means none.
func (s *session) idleTimeout() time.Duration {
	if s.ext.idle > 0 {
		return s.ext.idle
	}
	return s.st.idleTimeout()
}

// siteIDLE reports or sets the session's idle limit, which may not exceed
// the server's (or a day when the server has none).
func (s *session) siteIDLE(arg string) {
	limit := s.st.idleTimeout()
	if limit == 0 {
		limit = maxSiteIdle
	}
	if arg == "" {
		if cur := s.idleTimeout(); cur > 0 {
			s.reply(200, fmt.Sprintf("Idle timeout is %d seconds.", int(cur/time.Second)))
		} else {
			s.reply(200, "There is no idle timeout.")
		}
		return
	}
	n, err := strconv.Atoi(arg)
	if err != nil || !isDigits(arg) || n < 1 || n > int(limit/time.Second) {
		s.reply(501, fmt.Sprintf("SITE IDLE needs a number of seconds from 1 to %d.", int(limit/time.Second)))
		return
	}
	s.ext.idle = time.Duration(n) * time.Second
	s.reply(200, fmt.Sprintf("Idle timeout set to %d seconds.", n))
}
