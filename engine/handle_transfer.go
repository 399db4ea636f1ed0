package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// handleTYPE sets the representation type (RFC 959 3.1.1): ASCII with
// non-print format, image, and local byte size 8 (the same as image).
func (s *session) handleTYPE(c *Command) {
	fields := strings.Fields(strings.ToUpper(c.Arg))
	switch {
	case len(fields) == 1 && fields[0] == "A", len(fields) == 2 && fields[0] == "A" && fields[1] == "N":
		s.transferType = TransferTypeASCII
		s.reply(200, "Type set to A.")
	case len(fields) == 1 && fields[0] == "I", len(fields) == 2 && fields[0] == "L" && fields[1] == "8",
		len(fields) == 1 && fields[0] == "L8":
		s.transferType = TransferTypeBinary
		s.reply(200, "Type set to I.")
	default:
		s.reply(504, "Only TYPE A, TYPE I and TYPE L 8 are supported.")
	}
}

// handleSTRU accepts file structure, the only one implemented.
func (s *session) handleSTRU(c *Command) {
	if strings.EqualFold(strings.TrimSpace(c.Arg), "F") {
		s.reply(200, "Structure set to F.")
		return
	}
	s.reply(504, "Only STRU F is supported.")
}

// handleALLO reserves space when the driver can, and is superfluous
// otherwise (RFC 959 4.1.3).
func (s *session) handleALLO(c *Command) {
	sizeText, _, _ := strings.Cut(strings.TrimSpace(c.Arg), " ")
	size, err := strconv.Atoi(sizeText)
	if err != nil || size < 0 {
		s.reply(501, "ALLO needs a number of bytes.")
		return
	}
	ext, ok := clientDriverExt[ClientDriverExtensionAllocate](s.driver())
	if !ok {
		s.reply(202, "ALLO is not needed on this server.")
		return
	}
	if err := ext.AllocateSpace(size); err != nil {
		s.replyError(err, 552, "Cannot allocate the space requested.")
		return
	}
	s.reply(200, "Space allocated.")
}

// handleREST sets the offset of the next RETR or STOR (RFC 3659 5).
func (s *session) handleREST(c *Command) {
	text := strings.TrimSpace(c.Arg)
	off, err := strconv.ParseInt(text, 10, 64)
	if err != nil || off < 0 || !isDigits(text) {
		s.reply(501, "REST needs a non-negative byte offset.")
		return
	}
	s.restOffset = off
	s.reply(350, "Restarting at "+text+". Send STOR or RETR.")
}

// openHandle opens a transfer handle through the driver's file transfer
// extension when it has one, and moves to offset.
func (s *session) openHandle(p string, flags int, offset int64) (FileTransfer, error) {
	drv := s.driver()
	var f FileTransfer
	var err error
	// Not through Unwrap: an open beside the wrapper's OpenFile (doc.go).
	if ext, ok := drv.(ClientDriverExtensionFileTransfer); ok {
		f, err = ext.GetHandle(p, flags, offset)
	} else {
		f, err = drv.OpenFile(p, flags, 0o666)
	}
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// openDownload opens p for RETR at the REST offset, with what it is: one
// step through a driver's OpenRead, otherwise a Stat, then the open
// (openHandle). It replies and returns false when p is not a regular file,
// the offset is past its end, or either step fails.
func (s *session) openDownload(p string) (FileTransfer, os.FileInfo, bool) {
	drv := s.driver()
	offset := s.restOffset
	_, getHandle := drv.(ClientDriverExtensionFileTransfer)
	or, openRead := drv.(ClientDriverExtensionOpenRead)
	if !openRead || getHandle {
		fi, ok := s.statRegular(drv, p)
		if !ok {
			return nil, nil, false
		}
		if !s.offsetWithin(offset, fi) {
			return nil, nil, false
		}
		f, err := s.openHandle(p, os.O_RDONLY, offset)
		if err != nil {
			s.restOffset = 0
			s.fsErrorReply(err, p)
			return nil, nil, false
		}
		return f, fi, true
	}
	f, fi, err := or.OpenRead(p)
	if err != nil {
		s.restOffset = 0
		s.fsErrorReply(err, p)
		return nil, nil, false
	}
	refuse := func() (FileTransfer, os.FileInfo, bool) {
		if f != nil {
			_ = f.Close()
		}
		return nil, nil, false
	}
	if f == nil || fi == nil || !fi.Mode().IsRegular() {
		s.reply(550, p+": not a regular file.")
		return refuse()
	}
	if !s.offsetWithin(offset, fi) {
		return refuse()
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			s.restOffset = 0
			s.fsErrorReply(err, p)
			return refuse()
		}
	}
	return f, fi, true
}

// offsetWithin replies 554 and returns false when the REST offset is past
// the end of the file fi describes.
func (s *session) offsetWithin(offset int64, fi os.FileInfo) bool {
	if offset <= fi.Size() {
		return true
	}
	s.restOffset = 0
	s.reply(554, fmt.Sprintf("REST offset %d is beyond the end of the file (%d bytes).", offset, fi.Size()))
	return false
}

// handleRETR sends a file (RFC 959 4.1.3).
func (s *session) handleRETR(c *Command) {
	if !s.readyForTransfer() {
		return
	}
	p := c.Paths[0]
	f, fi, ok := s.openDownload(p)
	if !ok {
		return
	}
	offset := s.restOffset
	s.startTransfer(&transferJob{
		verb: "RETR", path: p, dir: Download, offset: offset, file: f,
		opening:  fmt.Sprintf("Opening %s mode data connection for %s (%d bytes).", s.transferType, p, fi.Size()-offset),
		complete: "Transfer complete.",
	})
}

// handleSTOR receives a file, from the REST offset when one is set.
func (s *session) handleSTOR(c *Command) {
	flags := os.O_WRONLY | os.O_CREATE
	if s.restOffset == 0 {
		flags |= os.O_TRUNC
	}
	s.receive(c.Verb, c.Paths[0], flags, s.restOffset)
}

// handleAPPE appends to a file, creating it when missing. O_APPEND tells
// the driver what is meant; on disk it rules out splice, which is fine for
// a command this rare.
func (s *session) handleAPPE(c *Command) {
	s.restOffset = 0
	s.receive(c.Verb, c.Paths[0], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0)
}

// receive opens p for an upload and starts it.
func (s *session) receive(verb, p string, flags int, offset int64) {
	if !s.readyForTransfer() {
		return
	}
	if p == "/" {
		s.restOffset = 0
		s.reply(553, "Cannot store onto the root directory.")
		return
	}
	// No Stat before the open: a path lookup per upload spared. The
	// open itself refuses a directory (EISDIR) on disk; other drivers'
	// handles are asked afterwards (uploadIsDir).
	f, err := s.openForUpload(p, flags, offset)
	if err != nil {
		s.restOffset = 0
		if s.uploadOntoDir(err, p) {
			s.reply(553, p+": is a directory.")
			return
		}
		s.fsErrorReply(err, p)
		return
	}
	if s.uploadIsDir(f, p) {
		_ = f.Close()
		s.restOffset = 0
		s.reply(553, p+": is a directory.")
		return
	}
	s.startTransfer(&transferJob{
		verb: verb, path: p, dir: Upload, offset: offset, file: f,
		opening:  fmt.Sprintf("Opening %s mode data connection for %s.", s.transferType, p),
		complete: "Transfer complete.",
	})
}

// uploadOntoDir reports whether an upload's open failed because p is a
// directory: EISDIR, or, for a driver that says something else, a Stat
// after the failure (errors are rare, so the lookup costs nothing on the
// common path).
func (s *session) uploadOntoDir(err error, p string) bool {
	if errors.Is(err, syscall.EISDIR) {
		return true
	}
	fi, serr := s.driver().Stat(p)
	return serr == nil && fi.IsDir()
}

// uploadIsDir reports whether a handle opened at p for an upload is a
// directory. An OS file never is: open(2) refuses to write to one. Other
// drivers (afero.MemMapFs, for one) may open a directory for writing, so
// their handles are asked, or the driver when the handle cannot say.
func (s *session) uploadIsDir(f FileTransfer, p string) bool {
	if _, ok := unwrapFile(f).(*os.File); ok {
		return false
	}
	var fi fs.FileInfo
	var err error
	if st, ok := f.(interface{ Stat() (fs.FileInfo, error) }); ok {
		fi, err = st.Stat()
	} else {
		fi, err = s.driver().Stat(p)
	}
	return err == nil && fi.IsDir()
}

// openForUpload opens p for writing at offset. A resumed upload drops
// whatever the file held past the offset, so the result is exactly the
// old prefix plus the new bytes.
func (s *session) openForUpload(p string, flags int, offset int64) (FileTransfer, error) {
	f, err := s.openHandle(p, flags, offset)
	if err != nil || offset == 0 {
		return f, err
	}
	if t, ok := f.(interface{ Truncate(int64) error }); ok {
		if err := t.Truncate(offset); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// handleSTOU stores a file under a name the server makes unique (RFC 959
// 4.1.3, reply text of RFC 1123 4.1.2.9). An argument is taken as the
// preferred name.
func (s *session) handleSTOU(c *Command) {
	s.restOffset = 0
	if !s.readyForTransfer() {
		return
	}
	dir, base := c.Paths[0], "ftp"
	if c.Arg != "" {
		dir, base = path.Dir(c.Paths[0]), path.Base(c.Paths[0])
	}
	f, name, err := s.createUnique(dir, base, c.Arg != "")
	if err != nil {
		s.fsErrorReply(err, dir)
		return
	}
	s.startTransfer(&transferJob{
		verb: "STOU", path: name, dir: Upload, file: f,
		opening:  "FILE: " + path.Base(name),
		complete: "Transfer complete; stored as " + name + ".",
	})
}

// createUnique creates a new file in dir named base (when tryBase) or
// base with a suffix.
func (s *session) createUnique(dir, base string, tryBase bool) (FileTransfer, string, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if tryBase {
		name := path.Join(dir, base)
		f, err := s.openHandle(name, flags, 0)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			return f, name, err
		}
	}
	stamp := time.Now().UTC().Format("20060102T150405")
	for i := 1; i <= 100; i++ {
		name := path.Join(dir, fmt.Sprintf("%s.%s.%d", base, stamp, i))
		f, err := s.openHandle(name, flags, 0)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			return f, name, err
		}
	}
	return nil, "", fmt.Errorf("no unique name found in %s: %w", dir, fs.ErrExist)
}

// handleABOR aborts the running transfer: it gets 426, then ABOR gets 226
// (RFC 959 4.1.3). Without a transfer, any prepared data connection is
// dropped.
func (s *session) handleABOR(*Command) {
	x := s.runningTransfer()
	if x == nil {
		s.closePassive()
		s.activeAddr = nil
		s.reply(225, "No transfer to abort.")
		return
	}
	x.abort()
	select {
	case <-x.done:
	case <-s.ctx.Done():
		return
	}
	s.reply(226, "ABOR successful.")
}
