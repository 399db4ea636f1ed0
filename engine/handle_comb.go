package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/spf13/afero/mem"
)

// COMB joins uploaded parts into one file, the Serv-U extension that
// multi-part uploaders (and ftpserverlib's clients) use:
// `COMB "target" "part1" "part2" ...`.

// cutQuoted splits a leading double-quoted word off arg (which starts
// with a quote): a doubled quote inside stands for one quote, as in RFC
// 959's 257 replies. found is false when the closing quote is missing.
func cutQuoted(arg string) (word, rest string, found bool) {
	var b strings.Builder
	for i := 1; i < len(arg); i++ {
		if arg[i] != '"' {
			b.WriteByte(arg[i])
			continue
		}
		if i+1 < len(arg) && arg[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), arg[i+1:], true
	}
	return "", "", false
}

// splitQuotedArgs splits arg into words separated by spaces; a word in
// double quotes may contain spaces (and doubled quotes). ok is false for
// an unterminated quote, an empty quoted word, or a quote glued to the
// next word.
func splitQuotedArgs(arg string) (words []string, ok bool) {
	rest := strings.TrimLeft(arg, " ")
	for rest != "" {
		var w string
		if rest[0] == '"' {
			var found bool
			w, rest, found = cutQuoted(rest)
			if !found || w == "" || (rest != "" && rest[0] != ' ') {
				return nil, false
			}
		} else {
			w, rest, _ = strings.Cut(rest, " ")
		}
		words = append(words, w)
		rest = strings.TrimLeft(rest, " ")
	}
	return words, true
}

// combPaths resolves COMB's target and parts; the hooks see the target
// first, then the parts in order.
func combPaths(s *session, c *Command) string {
	words, ok := splitQuotedArgs(c.Arg)
	if !ok || len(words) < 2 {
		return `Syntax error: COMB needs a target and at least one part ("target" "part1" ...).`
	}
	c.Paths = make([]string, len(words))
	for i, w := range words {
		c.Paths[i] = resolvePath(s.Path(), w)
	}
	return ""
}

// errCOMBSelf and errCOMBPartChanged end a COMB that would append a
// file to itself, or whose part grew while it was copied.
var (
	errCOMBSelf        = &ReplyError{Code: 550, Message: "COMB cannot append a file to itself (a part is the target, or a link to it)."}
	errCOMBPartChanged = &ReplyError{Code: 450, Message: "A part changed while COMB copied it; nothing was deleted, try again."}
)

// combPart is one part as COMB measured it when it opened it.
type combPart struct {
	path string
	fi   os.FileInfo // from the opened handle
}

// handleStat returns the FileInfo of an opened handle, or nil when the
// handle cannot tell.
func handleStat(f any) os.FileInfo {
	st, ok := f.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return nil
	}
	fi, err := st.Stat()
	if err != nil {
		return nil
	}
	return fi
}

// sameFile reports whether a and b are known to be one file: os.SameFile
// compares device and inode, so it knows only FileInfos of the operating
// system (for others, such as a memory filesystem without links, it
// answers false, and COMB's byte bound is what stops a loop).
func sameFile(a, b os.FileInfo) bool { return a != nil && b != nil && os.SameFile(a, b) }

// knownDifferent reports whether a and b are known to be different files:
// both are FileInfos os.SameFile can compare, and they differ.
func knownDifferent(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, a) && os.SameFile(b, b) && !os.SameFile(a, b)
}

// handleCOMB appends the parts, in order, to the target (created when
// missing), then deletes the parts: 200 on success, 550 otherwise. On a
// failure no part is deleted and COMB undoes only its own bytes: the
// target is cut back to its old size when it holds nothing but those
// bytes besides, and a target COMB created is removed only while the
// name still leads to that file (never another session's upload). It runs as a job, so ABOR interrupts a long one.
//
// Bounds: COMB appends at most the bytes its parts held when it opened
// them (a part that grew meanwhile fails it with 450, keeping every part),
// at most Settings.MaxCOMBBytes when that is set (552 before anything is
// written), and whatever the storage refuses (a quota's 552) ends it.
// A part that is the target itself, by name or through a link, is refused
// (550) by comparing the opened files, before and while it copies.
func (s *session) handleCOMB(c *Command) {
	target, paths := c.Paths[0], c.Paths[1:]
	drv := s.driver()
	if target == "/" {
		s.reply(553, "Cannot combine onto the root directory.")
		return
	}
	var oldSize int64
	var targetFI os.FileInfo
	existed := false
	if fi, err := drv.Stat(target); err == nil {
		existed, targetFI = true, fi
		if !fi.Mode().IsRegular() {
			s.reply(550, target+": not a regular file.")
			return
		}
		oldSize = fi.Size()
	} else if !errors.Is(err, os.ErrNotExist) {
		s.fsErrorReply(err, target)
		return
	}
	parts := make([]combPart, len(paths))
	var total int64
	for i, p := range paths {
		if p == target {
			s.replyError(errCOMBSelf, 550, "")
			return
		}
		fi, ok := s.measurePart(drv, p)
		if !ok {
			return
		}
		if sameFile(fi, targetFI) {
			s.replyError(errCOMBSelf, 550, "")
			return
		}
		parts[i] = combPart{path: p, fi: fi}
		total = addSaturating(total, fi.Size())
	}
	if limit := s.st.MaxCOMBBytes; limit > 0 && total > limit {
		s.reply(552, fmt.Sprintf("COMB would append %d bytes; this server allows at most %d.", total, limit))
		return
	}
	// COMB ends by removing the parts: a part the user may not remove is
	// refused now, before the target is written.
	if rc, ok := clientDriverExt[ClientDriverExtensionRemoveCheck](drv); ok {
		for _, p := range parts {
			if err := rc.CheckRemove(p.path); err != nil {
				s.fsErrorReply(err, p.path)
				return
			}
		}
	}
	f, err := s.openHandle(target, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0)
	if err != nil {
		s.fsErrorReply(err, target)
		return
	}
	// The target as opened: a link or a swap since the Stat above may
	// have made it one of the parts.
	openedFI := handleStat(f)
	for _, p := range parts {
		if sameFile(p.fi, openedFI) {
			_ = f.Close()
			if now, err := drv.Stat(target); err == nil && !existed && identical(now, openedFI) {
				_ = drv.Remove(target)
			}
			s.replyError(errCOMBSelf, 550, "")
			return
		}
	}
	s.startJob("COMB", target, func(ctx context.Context, x *transfer) {
		err := s.appendParts(ctx, x, f, openedFI, parts)
		if err != nil {
			if fte, ok := fileExt[FileTransferError](f); ok {
				fte.TransferError(err)
			}
			undoOwnBytes(f, oldSize, x.bytes.Load())
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil && !existed {
			// Leave no half-made file behind, but only if the name still
			// leads to the file COMB made: another session may have
			// stored its own (226) file there meanwhile.
			if now, serr := drv.Stat(target); serr == nil && identical(now, openedFI) {
				_ = drv.Remove(target)
			}
		}
		switch {
		case ctx.Err() != nil:
			s.finalReply(x, 426, "COMB aborted.")
			return
		case err != nil:
			s.log.Info("ftp: COMB failed", "target", target, "err", err)
			x.code = s.fsErrorReply(err, target)
			return
		}
		removed := map[string]bool{}
		for _, p := range parts {
			if removed[p.path] {
				continue
			}
			removed[p.path] = true
			// A part replaced under its name since COMB read it (another
			// session's upload) is not the part COMB copied: keep it.
			if now, err := drv.Stat(p.path); err == nil && knownDifferent(now, p.fi) {
				s.log.Info("ftp: COMB kept a part replaced while it ran", "part", p.path)
				s.finalReply(x, 450, fmt.Sprintf("COMB combined the parts into %s, but %s was replaced meanwhile: it and the parts after it were kept.", target, p.path))
				return
			}
			if err := drv.Remove(p.path); err != nil {
				// The target is complete; say which part remains.
				s.log.Info("ftp: COMB could not delete a part", "part", p.path, "err", err)
				x.code = s.fsErrorReply(err, p.path)
				return
			}
		}
		s.finalReply(x, 200, fmt.Sprintf("COMB successful: %d parts combined into %s.", len(parts), target))
	})
}

// measurePart opens a part to learn what it is: a regular file, its size
// and identity from the opened handle (which a link resolves to). It
// replies and reports false when the part is unusable.
func (s *session) measurePart(drv ClientDriver, p string) (os.FileInfo, bool) {
	in, err := drv.Open(p)
	if err != nil {
		s.fsErrorReply(err, p)
		return nil, false
	}
	fi, err := in.Stat()
	_ = in.Close()
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

// undoOwnBytes cuts f back to oldSize after a failed COMB that appended
// written bytes, only when the file holds exactly oldSize+written bytes:
// otherwise another session appended to it meanwhile, and cutting would
// undo bytes COMB did not write (COMB's partial bytes then stay).
func undoOwnBytes(f any, oldSize, written int64) {
	t, ok := f.(interface{ Truncate(int64) error })
	if !ok {
		return
	}
	if fi := handleStat(f); fi == nil || fi.Size() != oldSize+written {
		return
	}
	_ = t.Truncate(oldSize)
}

// identical reports whether a and b are known to be one file: an
// operating system's file (os.SameFile) or one node of afero's memory
// filesystem. Unknown kinds are never identical, so an undo that depends
// on it does nothing rather than remove another file.
func identical(a, b os.FileInfo) bool {
	if sameFile(a, b) {
		return true
	}
	ma, ok1 := a.(*mem.FileInfo)
	mb, ok2 := b.(*mem.FileInfo)
	return ok1 && ok2 && ma.FileData == mb.FileData
}

// addSaturating adds two non-negative sizes without overflowing.
func addSaturating(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// appendParts copies each part to f in order, at most the size measured
// when COMB opened it, checking ctx between chunks. A part that is now
// the target (swapped for a link since it was measured) fails with
// errCOMBSelf, one that grew past its size with errCOMBPartChanged.
func (s *session) appendParts(ctx context.Context, x *transfer, f io.Writer, targetFI os.FileInfo, parts []combPart) error {
	drv := s.driver()
	buf := make([]byte, 64<<10)
	for i := range parts {
		p := &parts[i]
		in, err := drv.Open(p.path)
		if err != nil {
			return err
		}
		fi := handleStat(in)
		if sameFile(fi, targetFI) {
			_ = in.Close()
			return errCOMBSelf
		}
		if knownDifferent(fi, p.fi) {
			// Another file now has the name: copying it would delete it
			// afterwards, unread by this check.
			_ = in.Close()
			return errCOMBPartChanged
		}
		left := p.fi.Size()
		for left > 0 {
			if err := ctx.Err(); err != nil {
				_ = in.Close()
				return ErrTransferAborted
			}
			n, err := io.CopyBuffer(writerOnly{f}, io.LimitReader(readerOnly{in}, min(left, hashReadChunk)), buf)
			x.bytes.Add(n)
			left -= n
			if err != nil {
				_ = in.Close()
				return err
			}
			if n == 0 {
				break // the part shrank: what it holds is all copied
			}
		}
		var probe [1]byte
		if m, _ := io.ReadFull(in, probe[:]); m > 0 {
			_ = in.Close()
			return errCOMBPartChanged
		}
		if err := in.Close(); err != nil {
			return err
		}
	}
	return nil
}
