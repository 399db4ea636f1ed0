package engine

import (
	"sort"
	"strings"
)

// argRule says whether a command takes an argument.
type argRule int

const (
	argOptional argRule = iota
	argNone
	argRequired
)

// commandSpec describes one verb: its handler and what the dispatcher
// checks before calling it.
type commandSpec struct {
	handler func(s *session, c *Command)
	arg     argRule
	// public commands work before login.
	public bool
	// duringTransfer commands (ABOR, STAT, QUIT) run while a transfer is
	// in progress; the others wait for it to end.
	duringTransfer bool
	// pathArg means the whole argument is one path.
	pathArg bool
	// paths fills Command.Paths (and params) from the argument, for
	// commands whose argument is more than one path; it returns the 501
	// message for an unusable argument.
	paths func(s *session, c *Command) string
	// enabled, when not nil, says whether the settings allow the command.
	enabled func(s *session) bool
}

// prepare checks the argument against the rule and resolves the command's
// paths. It returns the 501 message for an unusable argument, or "".
func (spec *commandSpec) prepare(s *session, c *Command) string {
	switch spec.arg {
	case argNone:
		if strings.TrimSpace(c.Arg) != "" {
			return "Syntax error: " + c.Verb + " takes no argument."
		}
		c.Arg = ""
	case argRequired:
		if strings.TrimSpace(c.Arg) == "" {
			return "Syntax error: " + c.Verb + " needs an argument."
		}
	}
	switch {
	case spec.paths != nil:
		return spec.paths(s, c)
	case spec.pathArg && c.Arg != "":
		c.Paths = []string{resolvePath(s.Path(), c.Arg)}
	case spec.pathArg:
		c.Paths = []string{s.Path()}
	}
	return ""
}

// commands maps each verb to its spec. It is built once by init and only
// read afterwards.
var commands map[string]*commandSpec

// commandNames lists the verbs in order, for HELP.
var commandNames []string

func init() {
	commands = commandTable()
	for verb := range commands {
		commandNames = append(commandNames, verb)
	}
	sort.Strings(commandNames)
}

func commandTable() map[string]*commandSpec {
	noSYST := func(s *session) bool { return !s.st.DisableSYST }
	mlsd := func(s *session) bool { return !s.st.DisableMLSD }
	mlst := func(s *session) bool { return !s.st.DisableMLST }
	mfmt := func(s *session) bool { return !s.st.DisableMFMT }
	active := func(s *session) bool { return !s.st.DisableActiveMode }
	hashOn := func(s *session) bool { return s.st.EnableHASH }
	comb := func(s *session) bool { return s.st.EnableCOMB }
	site := func(s *session) bool { return !s.st.DisableSite }
	xhash := &commandSpec{handler: (*session).handleXHASH, arg: argRequired, paths: xhashPaths, enabled: hashOn}

	pwd := &commandSpec{handler: (*session).handlePWD, arg: argNone}
	cwd := &commandSpec{handler: (*session).handleCWD, arg: argRequired, pathArg: true}
	cdup := &commandSpec{handler: (*session).handleCWD, arg: argNone, paths: parentPath}
	mkd := &commandSpec{handler: (*session).handleMKD, arg: argRequired, pathArg: true}
	rmd := &commandSpec{handler: (*session).handleRMD, arg: argRequired, pathArg: true}

	return map[string]*commandSpec{
		// Access control (RFC 959 4.1.1, RFC 7151).
		"USER": {handler: (*session).handleUSER, arg: argRequired, public: true},
		"PASS": {handler: (*session).handlePASS, public: true},
		"ACCT": {handler: (*session).handleACCT, arg: argRequired, public: true},
		"REIN": {handler: (*session).handleREIN, arg: argNone, public: true},
		"QUIT": {handler: (*session).handleQUIT, arg: argNone, public: true, duringTransfer: true},
		"HOST": {handler: (*session).handleHOST, arg: argRequired, public: true},

		// Security (RFC 2228, RFC 4217).
		"AUTH": {handler: (*session).handleAUTH, arg: argRequired, public: true},
		"PBSZ": {handler: (*session).handlePBSZ, arg: argRequired, public: true},
		"PROT": {handler: (*session).handlePROT, arg: argRequired, public: true},
		"CCC":  {handler: (*session).handleCCC, arg: argNone, public: true},

		// Information (RFC 959, RFC 2389).
		"SYST": {handler: (*session).handleSYST, arg: argNone, public: true, enabled: noSYST},
		"FEAT": {handler: (*session).handleFEAT, arg: argNone, public: true},
		"OPTS": {handler: (*session).handleOPTS, arg: argRequired, public: true},
		"HELP": {handler: (*session).handleHELP, public: true},
		"NOOP": {handler: (*session).handleNOOP, public: true},
		"CLNT": {handler: (*session).handleCLNT, arg: argRequired, public: true},
		"STAT": {handler: (*session).handleSTAT, duringTransfer: true, pathArg: true, paths: statPath},

		// Directories.
		"PWD": pwd, "XPWD": pwd,
		"CWD": cwd, "XCWD": cwd,
		"CDUP": cdup, "XCUP": cdup,
		"MKD": mkd, "XMKD": mkd,
		"RMD": rmd, "XRMD": rmd,

		// Files.
		"DELE": {handler: (*session).handleDELE, arg: argRequired, pathArg: true},
		"RNFR": {handler: (*session).handleRNFR, arg: argRequired, pathArg: true},
		"RNTO": {handler: (*session).handleRNTO, arg: argRequired, paths: renamePaths},
		"SIZE": {handler: (*session).handleSIZE, arg: argRequired, pathArg: true},
		"MDTM": {handler: (*session).handleMDTM, arg: argRequired, paths: mdtmPaths},
		"MFMT": {handler: (*session).handleMFMT, arg: argRequired, paths: mfmtPaths, enabled: mfmt},

		// Listings (RFC 959, RFC 3659).
		"LIST": {handler: usesDataChannel((*session).handleLIST), paths: listPaths},
		"NLST": {handler: usesDataChannel((*session).handleNLST), paths: listPaths},
		"MLSD": {handler: usesDataChannel((*session).handleMLSD), pathArg: true, enabled: mlsd},
		"MLST": {handler: (*session).handleMLST, pathArg: true, enabled: mlst},

		// Transfer parameters.
		"TYPE": {handler: (*session).handleTYPE, arg: argRequired},
		"MODE": {handler: (*session).handleMODE, arg: argRequired},
		"STRU": {handler: (*session).handleSTRU, arg: argRequired},
		"ALLO": {handler: (*session).handleALLO, arg: argRequired},
		"REST": {handler: (*session).handleREST, arg: argRequired},

		// Transfers.
		"RETR": {handler: usesDataChannel((*session).handleRETR), arg: argRequired, pathArg: true},
		"STOR": {handler: usesDataChannel((*session).handleSTOR), arg: argRequired, pathArg: true},
		"APPE": {handler: usesDataChannel((*session).handleAPPE), arg: argRequired, pathArg: true},
		"STOU": {handler: usesDataChannel((*session).handleSTOU), pathArg: true},
		"ABOR": {handler: (*session).handleABOR, arg: argNone, duringTransfer: true},

		// Data connections (RFC 959, RFC 2428).
		"PASV": {handler: (*session).handlePASV, arg: argNone},
		"EPSV": {handler: (*session).handleEPSV},
		"PORT": {handler: (*session).handlePORT, arg: argRequired, enabled: active},
		"EPRT": {handler: (*session).handleEPRT, arg: argRequired, enabled: active},

		// Extensions: digests (draft-bryan-ftpext-hash, handle_hash.go),
		// free space, joining parts, SITE.
		"HASH": {handler: (*session).handleHASH, arg: argRequired, pathArg: true, enabled: hashOn},
		"RANG": {handler: (*session).handleRANG, arg: argRequired, enabled: hashOn},
		"XCRC": xhash, "XMD5": xhash, "XSHA1": xhash, "XSHA256": xhash, "XSHA512": xhash,
		"AVBL": {handler: (*session).handleAVBL, pathArg: true},
		"COMB": {handler: (*session).handleCOMB, arg: argRequired, paths: combPaths, enabled: comb},
		"SITE": {handler: (*session).handleSITE, arg: argRequired, paths: sitePaths, enabled: site},
	}
}

// usesDataChannel makes a transfer command use up the data channel that
// PASV, EPSV, PORT or EPRT prepared even when it fails before its transfer
// starts (550 for a missing file, say): a passive listener is closed, so
// that the client's data connection ends instead of waiting, and a later
// transfer never picks up a connection the client has given up on.
func usesDataChannel(handler func(*session, *Command)) func(*session, *Command) {
	return func(s *session, c *Command) {
		handler(s, c)
		// A transfer that started took the channel already.
		s.closePassive()
		s.activeAddr = nil
	}
}

// parentPath resolves CDUP's implicit "..".
func parentPath(s *session, c *Command) string {
	c.Paths = []string{resolvePath(s.Path(), "..")}
	return ""
}

// statPath gives STAT a path only when it has an argument: without one it
// reports on the server.
func statPath(s *session, c *Command) string {
	if c.Arg != "" {
		c.Paths = []string{resolvePath(s.Path(), c.Arg)}
	}
	return ""
}

// renamePaths gives RNTO the pending RNFR source and the target.
func renamePaths(s *session, c *Command) string {
	to := resolvePath(s.Path(), c.Arg)
	if s.renameFrom == "" {
		c.Paths = []string{to}
	} else {
		c.Paths = []string{s.renameFrom, to}
	}
	return ""
}
