package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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

// handleCOMB appends the parts, in order, to the target (created when
// missing), then deletes the parts: 200 on success, 550 otherwise. On a
// failure the target is cut back to its old size where the driver allows,
// and no part is deleted. It runs as a job, so ABOR interrupts a long one.
func (s *session) handleCOMB(c *Command) {
	target, parts := c.Paths[0], c.Paths[1:]
	drv := s.driver()
	if target == "/" {
		s.reply(553, "Cannot combine onto the root directory.")
		return
	}
	var oldSize int64
	existed := false
	if fi, err := drv.Stat(target); err == nil {
		existed = true
		if !fi.Mode().IsRegular() {
			s.reply(550, target+": not a regular file.")
			return
		}
		oldSize = fi.Size()
	} else if !errors.Is(err, os.ErrNotExist) {
		s.fsErrorReply(err, target)
		return
	}
	for _, p := range parts {
		if p == target {
			s.reply(550, p+": a part cannot be the target.")
			return
		}
		if _, ok := s.statRegular(drv, p); !ok {
			return
		}
	}
	f, err := s.openHandle(target, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0)
	if err != nil {
		s.fsErrorReply(err, target)
		return
	}
	s.startJob("COMB", target, func(ctx context.Context, x *transfer) {
		err := s.appendParts(ctx, x, f, parts)
		if err != nil {
			if fte, ok := fileExt[FileTransferError](f); ok {
				fte.TransferError(err)
			}
			if t, ok := f.(interface{ Truncate(int64) error }); ok {
				_ = t.Truncate(oldSize)
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil && !existed {
			_ = drv.Remove(target) // leave no half-made file behind
		}
		switch {
		case ctx.Err() != nil:
			s.reply(426, "COMB aborted.")
			return
		case err != nil:
			s.log.Info("ftp: COMB failed", "target", target, "err", err)
			s.fsErrorReply(err, target)
			return
		}
		removed := map[string]bool{}
		for _, p := range parts {
			if removed[p] {
				continue
			}
			removed[p] = true
			if err := drv.Remove(p); err != nil {
				// The target is complete; say which part remains.
				s.log.Info("ftp: COMB could not delete a part", "part", p, "err", err)
				s.fsErrorReply(err, p)
				return
			}
		}
		s.reply(200, fmt.Sprintf("COMB successful: %d parts combined into %s.", len(parts), target))
	})
}

// appendParts copies each part to f in order, checking ctx between
// chunks.
func (s *session) appendParts(ctx context.Context, x *transfer, f io.Writer, parts []string) error {
	drv := s.driver()
	buf := make([]byte, 64<<10)
	for _, p := range parts {
		in, err := drv.Open(p)
		if err != nil {
			return err
		}
		for {
			if err := ctx.Err(); err != nil {
				_ = in.Close()
				return ErrTransferAborted
			}
			n, err := io.CopyBuffer(writerOnly{f}, io.LimitReader(readerOnly{in}, hashReadChunk), buf)
			x.bytes.Add(n)
			if err != nil {
				_ = in.Close()
				return err
			}
			if n < hashReadChunk {
				break
			}
		}
		if err := in.Close(); err != nil {
			return err
		}
	}
	return nil
}
