package engine

import (
	"errors"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/afero"
)

// listBatch is how many directory entries a listing reads, sorts and
// renders at a time, so that a huge directory streams in bounded memory.
const listBatch = 1024

// maxStatLines bounds the listing STAT sends over the control connection.
const maxStatLines = 10000

// listFormat renders one entry of a listing; name is what the line shows.
type listFormat func(b []byte, fi os.FileInfo, name, fullPath string) []byte

// listingReader renders a listing lazily as the data connection takes it.
type listingReader struct {
	dir     afero.File    // the directory being read, or nil
	dirPath string        // its absolute path
	pending []os.FileInfo // entries read, not yet rendered
	prefix  string        // prepended to names (NLST with an argument)
	keep    func(os.FileInfo) bool
	format  listFormat
	buf     []byte
	off     int
	done    bool
}

// Read renders more entries whenever what was rendered has been read.
func (r *listingReader) Read(p []byte) (int, error) {
	for r.off >= len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// fill renders the next batch of entries into buf.
func (r *listingReader) fill() error {
	r.buf, r.off = r.buf[:0], 0
	if len(r.pending) == 0 {
		if r.dir == nil {
			r.done = true
			return nil
		}
		entries, err := r.dir.Readdir(listBatch)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(entries) == 0 {
			r.done = true
			return nil
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		r.pending = entries
	}
	for _, fi := range r.pending {
		name := fi.Name()
		if strings.ContainsAny(name, "\r\n") || (r.keep != nil && !r.keep(fi)) {
			continue // a name with a line break would forge listing lines
		}
		r.buf = r.format(r.buf, fi, r.prefix+name, path.Join(r.dirPath, name))
	}
	r.pending = nil
	return nil
}

// listTarget is what LIST, NLST, MLSD and STAT list: a directory's entries
// (all, or those matching a glob), or a single file.
type listTarget struct {
	dir     afero.File  // open directory, or nil for a single entry
	dirPath string      // the directory's path
	single  os.FileInfo // the single entry, when dir is nil
	glob    string      // pattern for the entries' names, or ""
}

// openListTarget finds what p names. When p does not exist and its last
// element holds glob characters (and globs are allowed), it lists the
// parent's matching entries.
func (s *session) openListTarget(p string, allowGlob bool) (*listTarget, error) {
	drv := s.driver()
	fi, err := drv.Stat(p)
	if err != nil {
		base := path.Base(p)
		if !allowGlob || !errors.Is(err, fs.ErrNotExist) || !strings.ContainsAny(base, "*?[") {
			return nil, err
		}
		if _, perr := path.Match(base, ""); perr != nil {
			return nil, &ReplyError{Code: 501, Message: "Bad glob pattern."}
		}
		dirPath := path.Dir(p)
		dir, err := drv.Open(dirPath)
		if err != nil {
			return nil, err
		}
		return &listTarget{dir: dir, dirPath: dirPath, glob: base}, nil
	}
	if !fi.IsDir() {
		return &listTarget{single: fi, dirPath: path.Dir(p)}, nil
	}
	dir, err := drv.Open(p)
	if err != nil {
		return nil, err
	}
	return &listTarget{dir: dir, dirPath: p}, nil
}

// reader returns a listingReader over the target.
func (t *listTarget) reader(format listFormat, showHidden bool, prefix string) *listingReader {
	r := &listingReader{dir: t.dir, dirPath: t.dirPath, format: format, prefix: prefix}
	if t.single != nil {
		r.pending = []os.FileInfo{t.single}
		return r
	}
	glob := t.glob
	r.keep = func(fi os.FileInfo) bool {
		name := fi.Name()
		if !showHidden && strings.HasPrefix(name, ".") && (glob == "" || !strings.HasPrefix(glob, ".")) {
			return false
		}
		if glob != "" {
			ok, _ := path.Match(glob, name)
			return ok
		}
		return true
	}
	return r
}

// close releases the open directory.
func (t *listTarget) close() {
	if t.dir != nil {
		_ = t.dir.Close()
	}
}

// listPaths splits LIST and NLST arguments into ls-style options (kept in
// params) and the path, unless DisableLISTArgs is set.
func listPaths(s *session, c *Command) string {
	opts, arg := splitListArg(c.Arg, s.st.DisableLISTArgs)
	c.params = opts
	c.Paths = []string{resolvePath(s.Path(), arg)}
	return ""
}

// showHidden reports whether LIST and NLST show dot files: with -a or -A,
// as ls does, or always when options are disabled.
func (s *session) showHidden(c *Command) bool {
	return s.st.DisableLISTArgs || strings.ContainsAny(c.params, "aA")
}

// startListing starts a LIST, NLST or MLSD transfer over the target.
func (s *session) startListing(c *Command, t *listTarget, r *listingReader) {
	s.startTransfer(&transferJob{
		verb: c.Verb, path: c.Paths[0], dir: Download, listing: r, release: t.close,
		opening:  "Opening ASCII mode data connection for the listing of " + c.Paths[0] + ".",
		complete: "Listing complete.",
	})
}

// handleLIST sends an ls -l style listing (RFC 959 4.1.3).
func (s *session) handleLIST(c *Command) {
	if !s.readyForTransfer() {
		return
	}
	t, err := s.openListTarget(c.Paths[0], !s.st.DisableLISTArgs)
	if err != nil {
		s.fsErrorReply(err, c.Paths[0])
		return
	}
	s.startListing(c, t, t.reader(s.lsFormat(), s.showHidden(c), ""))
}

// handleNLST sends names only, one per line; with an argument, the names
// carry it as a prefix so that they can be used in later commands.
func (s *session) handleNLST(c *Command) {
	if !s.readyForTransfer() {
		return
	}
	t, err := s.openListTarget(c.Paths[0], !s.st.DisableLISTArgs)
	if err != nil {
		s.fsErrorReply(err, c.Paths[0])
		return
	}
	format := listFormat(appendNameLine)
	if strings.Contains(c.params, "l") {
		format = s.lsFormat()
	}
	_, arg := splitListArg(c.Arg, s.st.DisableLISTArgs)
	prefix := ""
	switch {
	case t.single != nil:
		prefix = strings.TrimSuffix(arg, t.single.Name())
	case t.glob != "":
		if d := path.Dir(arg); d != "." {
			prefix = d + "/"
		}
	case arg != "":
		prefix = strings.TrimSuffix(arg, "/") + "/"
	}
	s.startListing(c, t, t.reader(format, s.showHidden(c), prefix))
}

// splitListArg returns the options and the path of a LIST/NLST argument as
// the client typed them.
func splitListArg(arg string, optionsDisabled bool) (opts, rest string) {
	if optionsDisabled {
		return "", arg
	}
	for strings.HasPrefix(arg, "-") {
		tok, r, _ := strings.Cut(arg, " ")
		opts += tok[1:]
		arg = strings.TrimLeft(r, " ")
	}
	return opts, arg
}

// handleMLSD sends a machine-readable listing of a directory (RFC 3659 7).
func (s *session) handleMLSD(c *Command) {
	if !s.readyForTransfer() {
		return
	}
	p := c.Paths[0]
	fi, err := s.driver().Stat(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	if !fi.IsDir() {
		s.reply(501, p+": not a directory.")
		return
	}
	t, err := s.openListTarget(p, false)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	facts := s.mlstFacts
	format := func(b []byte, fi os.FileInfo, name, full string) []byte {
		b = appendFacts(b, facts, fi, full)
		b = append(b, ' ')
		b = append(b, name...)
		return append(b, '\r', '\n')
	}
	s.startListing(c, t, t.reader(format, true, ""))
}

// handleMLST describes one file or directory over the control connection
// (RFC 3659 7).
func (s *session) handleMLST(c *Command) {
	p := c.Paths[0]
	fi, err := s.driver().Stat(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	line := appendFacts(nil, s.mlstFacts, fi, p)
	line = append(line, ' ')
	line = append(line, p...)
	s.replyLines(250, "Listing "+p, []string{" " + string(line)}, "End")
}

// statPath answers STAT with a path: its ls -l listing over the control
// connection (RFC 959 4.1.3).
func (s *session) statPath(p string) {
	t, err := s.openListTarget(p, !s.st.DisableLISTArgs)
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	defer t.close()
	r := t.reader(s.lsFormat(), true, "")
	data, err := io.ReadAll(io.LimitReader(r, maxStatLines*128))
	if err != nil {
		s.fsErrorReply(err, p)
		return
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
	if len(data) == 0 {
		lines = nil
	}
	s.replyLines(213, "Status of "+p+":", lines, "End of status")
}

// lsFormat returns the LIST format, with symbolic links' targets when the
// driver can read them.
func (s *session) lsFormat() listFormat {
	now := time.Now()
	lr, _ := s.driver().(afero.LinkReader)
	return func(b []byte, fi os.FileInfo, name, full string) []byte {
		b = appendLSLine(b, fi, name, now)
		if lr != nil && fi.Mode()&os.ModeSymlink != 0 {
			if target, err := lr.ReadlinkIfPossible(full); err == nil && !strings.ContainsAny(target, "\r\n") {
				b = append(b, " -> "...)
				b = append(b, target...)
			}
		}
		return append(b, '\r', '\n')
	}
}

// appendNameLine renders an NLST line.
func appendNameLine(b []byte, _ os.FileInfo, name, _ string) []byte {
	b = append(b, name...)
	return append(b, '\r', '\n')
}

// appendLSLine renders an entry as ls -l does, without the line ending.
// Times within the last six months show the time of day, older or future
// ones the year.
func appendLSLine(b []byte, fi os.FileInfo, name string, now time.Time) []byte {
	b = appendLSMode(b, fi.Mode())
	b = append(b, " 1 ftp      ftp      "...)
	size := strconv.FormatInt(fi.Size(), 10)
	for i := len(size); i < 12; i++ {
		b = append(b, ' ')
	}
	b = append(b, size...)
	b = append(b, ' ')
	mod := fi.ModTime().UTC()
	if age := now.Sub(mod); age >= 0 && age < 182*24*time.Hour {
		b = mod.AppendFormat(b, "Jan _2 15:04")
	} else {
		b = mod.AppendFormat(b, "Jan _2  2006")
	}
	b = append(b, ' ')
	return append(b, name...)
}

// appendLSMode renders a mode as ls does ("drwxr-xr-x"), which differs from
// os.FileMode.String for links, devices and the special bits.
func appendLSMode(b []byte, m os.FileMode) []byte {
	switch {
	case m.IsDir():
		b = append(b, 'd')
	case m&os.ModeSymlink != 0:
		b = append(b, 'l')
	case m&os.ModeNamedPipe != 0:
		b = append(b, 'p')
	case m&os.ModeSocket != 0:
		b = append(b, 's')
	case m&os.ModeCharDevice != 0:
		b = append(b, 'c')
	case m&os.ModeDevice != 0:
		b = append(b, 'b')
	default:
		b = append(b, '-')
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		c := byte('-')
		if m&(1<<uint(8-i)) != 0 {
			c = rwx[i]
		}
		switch {
		case i == 2 && m&os.ModeSetuid != 0, i == 5 && m&os.ModeSetgid != 0:
			c = specialBit(c, 's')
		case i == 8 && m&os.ModeSticky != 0:
			c = specialBit(c, 't')
		}
		b = append(b, c)
	}
	return b
}

// specialBit shows a setuid, setgid or sticky bit in an execute position:
// lower case over x, upper case over -.
func specialBit(c, letter byte) byte {
	if c == 'x' {
		return letter
	}
	return letter - 'a' + 'A'
}

// factSet is a set of MLST facts (RFC 3659 7.5).
type factSet uint8

const (
	factType factSet = 1 << iota
	factSize
	factModify
	factPerm
	factUnique
	factUnixMode
)

// defaultFacts are the facts sent until OPTS MLST chooses others.
const defaultFacts = factType | factSize | factModify | factPerm | factUnique | factUnixMode

// factNames lists the facts in the order they are sent.
var factNames = [...]struct {
	name string
	fact factSet
}{
	{"type", factType}, {"size", factSize}, {"modify", factModify},
	{"perm", factPerm}, {"unique", factUnique}, {"UNIX.mode", factUnixMode},
}

// parseFactSet reads the argument of OPTS MLST: fact names, each followed
// by ";", in any case; unknown names are ignored (RFC 3659 7.9).
func parseFactSet(v string) factSet {
	var set factSet
	for _, name := range strings.Split(strings.TrimSpace(v), ";") {
		for _, f := range factNames {
			if strings.EqualFold(name, f.name) {
				set |= f.fact
			}
		}
	}
	return set
}

// featString renders the MLST line of FEAT: every fact, selected ones
// starred.
func (set factSet) featString() string {
	var b strings.Builder
	for _, f := range factNames {
		b.WriteString(f.name)
		if set&f.fact != 0 {
			b.WriteByte('*')
		}
		b.WriteByte(';')
	}
	return b.String()
}

// optsString renders the selected facts for the OPTS MLST reply.
func (set factSet) optsString() string {
	var b strings.Builder
	for _, f := range factNames {
		if set&f.fact != 0 {
			b.WriteString(f.name)
			b.WriteByte(';')
		}
	}
	return b.String()
}

// appendFacts renders the selected facts of an entry, each ending in ";".
func appendFacts(b []byte, set factSet, fi os.FileInfo, full string) []byte {
	mode := fi.Mode()
	if set&factType != 0 {
		switch {
		case mode.IsDir():
			b = append(b, "type=dir;"...)
		case mode.IsRegular():
			b = append(b, "type=file;"...)
		case mode&os.ModeSymlink != 0:
			b = append(b, "type=OS.unix=symlink;"...)
		default:
			b = append(b, "type=OS.unix=special;"...)
		}
	}
	if set&factSize != 0 {
		b = append(b, "size="...)
		b = strconv.AppendInt(b, fi.Size(), 10)
		b = append(b, ';')
	}
	if set&factModify != 0 {
		b = append(b, "modify="...)
		b = fi.ModTime().UTC().AppendFormat(b, mdtmLayout)
		b = append(b, ';')
	}
	if set&factPerm != 0 {
		b = append(b, "perm="...)
		b = appendPerm(b, mode)
		b = append(b, ';')
	}
	if set&factUnique != 0 {
		b = append(b, "unique="...)
		b = appendUnique(b, fi, full)
		b = append(b, ';')
	}
	if set&factUnixMode != 0 {
		b = append(b, "UNIX.mode=0"...)
		b = strconv.AppendUint(b, uint64(mode.Perm()), 8)
		b = append(b, ';')
	}
	return b
}

// appendPerm renders the perm fact from the owner's mode bits; the
// driver may still refuse what the bits allow.
func appendPerm(b []byte, m os.FileMode) []byte {
	readable, writable := m&0o400 != 0, m&0o200 != 0
	if m.IsDir() {
		if writable {
			b = append(b, "cdfmp"...)
		}
		if readable {
			b = append(b, "el"...)
		}
		return b
	}
	if writable {
		b = append(b, "adfw"...)
	}
	if readable {
		b = append(b, 'r')
	}
	return b
}

// appendUnique renders the unique fact: device and inode where the
// filesystem has them, else a hash of the path.
func appendUnique(b []byte, fi os.FileInfo, full string) []byte {
	if dev, ino, ok := fileIdentity(fi); ok {
		b = strconv.AppendUint(b, dev, 16)
		b = append(b, 'U')
		return strconv.AppendUint(b, ino, 16)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(full))
	return strconv.AppendUint(b, h.Sum64(), 16)
}
