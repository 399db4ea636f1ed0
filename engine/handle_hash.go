package engine

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// HASH (draft-bryan-ftpext-hash-02), RANG for partial hashes
// (draft-bryan-ftp-range-08), and the older X digest commands that many
// servers and clients still use (XCRC, XMD5, XSHA1, XSHA256, XSHA512).

// hashAlgos lists the algorithms in FEAT order.
var hashAlgos = []HASHAlgo{HASHAlgoSHA256, HASHAlgoSHA512, HASHAlgoSHA1, HASHAlgoMD5, HASHAlgoCRC32}

// xHashAlgos maps the X digest commands to their algorithms.
var xHashAlgos = map[string]HASHAlgo{
	"XCRC":    HASHAlgoCRC32,
	"XMD5":    HASHAlgoMD5,
	"XSHA1":   HASHAlgoSHA1,
	"XSHA256": HASHAlgoSHA256,
	"XSHA512": HASHAlgoSHA512,
}

// hashReadChunk is how much the digest loop reads between checks of the
// context, so that ABOR and the session's end stop it promptly.
const hashReadChunk = 1 << 20

// parseHashAlgo returns the algorithm named by an OPTS HASH argument.
// Names compare without case, as the draft asks, and the usual spellings
// without the dash (SHA256, CRC-32) are accepted too.
func parseHashAlgo(name string) (HASHAlgo, bool) {
	n := strings.ToUpper(strings.TrimSpace(name))
	for _, a := range hashAlgos {
		if n == a.String() || n == strings.ReplaceAll(a.String(), "-", "") {
			return a, true
		}
	}
	if n == "CRC-32" {
		return HASHAlgoCRC32, true
	}
	return 0, false
}

// newHash returns a fresh digest of algo.
func newHash(algo HASHAlgo) hash.Hash {
	switch algo {
	case HASHAlgoSHA512:
		return sha512.New()
	case HASHAlgoSHA1:
		return sha1.New()
	case HASHAlgoMD5:
		return md5.New()
	case HASHAlgoCRC32:
		return crc32.NewIEEE()
	default:
		return sha256.New()
	}
}

// hashFeature returns the FEAT line: every algorithm, the selected one
// marked with "*".
func (s *session) hashFeature() string {
	names := make([]string, len(hashAlgos))
	for i, a := range hashAlgos {
		names[i] = a.String()
		if a == s.ext.hashAlgo {
			names[i] += "*"
		}
	}
	return "HASH " + strings.Join(names, ";")
}

// optsHASH answers OPTS HASH: without a name it reports the selected
// algorithm, with one it selects it. An unknown name gets 501 and leaves
// the selection alone, as the draft's example shows.
func (s *session) optsHASH(value string) {
	if !s.st.EnableHASH {
		s.reply(501, "Unknown option HASH.")
		return
	}
	if strings.TrimSpace(value) == "" {
		s.reply(200, s.ext.hashAlgo.String())
		return
	}
	algo, ok := parseHashAlgo(value)
	if !ok {
		s.reply(501, "Unknown algorithm, current selection not changed.")
		return
	}
	s.ext.hashAlgo = algo
	s.reply(200, algo.String())
}

// parseRangArgs parses RANG's "start end". reset is true for "RANG 1 0",
// the draft's way to go back to whole files. ok is false for anything
// else that is not two decimal numbers with start <= end.
func parseRangArgs(arg string) (start, end int64, reset, ok bool) {
	fields := strings.Fields(arg)
	if len(fields) != 2 || !isDigits(fields[0]) || !isDigits(fields[1]) {
		return 0, 0, false, false
	}
	start, err1 := strconv.ParseInt(fields[0], 10, 64)
	end, err2 := strconv.ParseInt(fields[1], 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, false, false
	case start == 1 && end == 0:
		return 0, 0, true, true
	case start > end:
		return 0, 0, false, false
	}
	return start, end, false, true
}

// handleRANG selects the byte range of the following HASH commands
// (draft-bryan-ftp-range-08: the end is inclusive; "RANG 1 0" resets; an
// invalid range gets 501 and resets too). The range only applies to HASH,
// which is why FEAT does not announce "RANG STREAM".
func (s *session) handleRANG(c *Command) {
	start, end, reset, ok := parseRangArgs(c.Arg)
	switch {
	case !ok:
		s.ext.rangSet = false
		s.reply(501, "RANG needs a start and an end byte, start <= end; range reset.")
	case reset:
		s.ext.rangSet = false
		s.reply(350, "Range reset; HASH covers whole files.")
	default:
		s.ext.rangSet, s.ext.rangStart, s.ext.rangEnd = true, start, end
		s.reply(350, fmt.Sprintf("Restarting at %d. End byte range at %d.", start, end))
	}
}

// parseXHashArgs parses the argument of the X digest commands:
// `name [start [end]]`, where the name may be in double quotes (a quote
// inside doubled) so that it can contain spaces or end in digits. Without
// quotes, up to two trailing decimal words are the offsets. The range is
// [start, end); end 0 means the end of the file.
func parseXHashArgs(arg string) (name string, start, end int64, ok bool) {
	arg = strings.TrimSpace(arg)
	var rest []string
	if strings.HasPrefix(arg, `"`) {
		n, tail, found := cutQuoted(arg)
		if !found || n == "" {
			return "", 0, 0, false
		}
		name, rest = n, strings.Fields(strings.ReplaceAll(tail, ",", " "))
		if len(tail) > 0 && tail[0] != ' ' && tail[0] != ',' {
			return "", 0, 0, false
		}
	} else {
		words := strings.Fields(arg)
		nums := 0
		for nums < 2 && nums < len(words)-1 && isDigits(strings.TrimSuffix(words[len(words)-1-nums], ",")) {
			nums++
		}
		name = strings.TrimSuffix(strings.Join(words[:len(words)-nums], " "), ",")
		rest = words[len(words)-nums:]
		if name == "" {
			return "", 0, 0, false
		}
	}
	if len(rest) > 2 {
		return "", 0, 0, false
	}
	offsets := [2]int64{}
	for i, w := range rest {
		w = strings.TrimSuffix(w, ",")
		v, err := strconv.ParseInt(w, 10, 64)
		if err != nil || !isDigits(w) {
			return "", 0, 0, false
		}
		offsets[i] = v
	}
	start, end = offsets[0], offsets[1]
	if end != 0 && end < start {
		return "", 0, 0, false
	}
	return name, start, end, true
}

// xhashPaths resolves the file of an X digest command; its offsets go to
// Command.params for the handler.
func xhashPaths(s *session, c *Command) string {
	name, start, end, ok := parseXHashArgs(c.Arg)
	if !ok {
		return "Syntax error: " + c.Verb + ` needs a file name, then optionally a start and an end byte ("name" start end).`
	}
	c.Paths = []string{resolvePath(s.Path(), name)}
	c.params = strconv.FormatInt(start, 10) + " " + strconv.FormatInt(end, 10)
	return ""
}

// hashRequest is one digest to compute: bytes [start, end) of path.
type hashRequest struct {
	path       string
	algo       HASHAlgo
	start, end int64 // end is exclusive; -1 means the end of the file
}

// handleHASH answers `213 ALGO start-end digest path`, with end inclusive
// as in the draft's examples; an empty file is reported as 0-0.
func (s *session) handleHASH(c *Command) {
	req := hashRequest{path: c.Paths[0], algo: s.ext.hashAlgo, start: 0, end: -1}
	if s.ext.rangSet {
		req.start, req.end = s.ext.rangStart, s.ext.rangEnd+1
	}
	s.runHash(c.Verb, req, func(first, last int64, digest string) (int, string) {
		return 213, fmt.Sprintf("%s %d-%d %s %s", req.algo, first, max(last, first), digest, req.path)
	})
}

// handleXHASH answers the X digest commands with 250 and the bare digest,
// as the servers that introduced them do.
func (s *session) handleXHASH(c *Command) {
	var start, end int64
	if _, err := fmt.Sscanf(c.params, "%d %d", &start, &end); err != nil {
		s.reply(501, "Syntax error in "+c.Verb+" arguments.")
		return
	}
	req := hashRequest{path: c.Paths[0], algo: xHashAlgos[c.Verb], start: start, end: end}
	if end == 0 {
		req.end = -1
	}
	s.runHash(c.Verb, req, func(_, _ int64, digest string) (int, string) {
		return 250, digest
	})
}

// runHash checks the file and computes the digest in a job, then calls ok
// with the inclusive byte range hashed and the lower-case hex digest for
// the final reply.
func (s *session) runHash(verb string, req hashRequest, ok func(first, last int64, digest string) (code int, text string)) {
	drv := s.driver()
	fi, err := drv.Stat(req.path)
	if err != nil {
		s.fsErrorReply(err, req.path)
		return
	}
	if fi.IsDir() {
		s.reply(553, req.path+": is a directory; HASH only applies to files.")
		return
	}
	if !fi.Mode().IsRegular() {
		s.reply(550, req.path+": not a regular file.")
		return
	}
	size := fi.Size()
	if req.end < 0 || req.end > size {
		req.end = size
	}
	if req.start > 0 && req.start >= size {
		s.reply(554, fmt.Sprintf("Start byte %d is beyond the end of the file (%d bytes).", req.start, size))
		return
	}
	s.startJob(verb, req.path, func(ctx context.Context, x *transfer) {
		digest, err := s.computeHash(ctx, x, req, size)
		switch {
		case ctx.Err() != nil:
			s.finalReply(x, 426, verb+" aborted.")
		case err != nil:
			s.log.Info("ftp: hash failed", "verb", verb, "path", req.path, "err", err)
			x.code = s.fsErrorReply(err, req.path)
		default:
			code, text := ok(req.start, req.end-1, digest)
			s.finalReply(x, code, text)
		}
	})
}

// computeHash asks the driver's hasher when it has one, else reads the
// bytes through the filesystem. The driver's call cannot be interrupted,
// so on ABOR its result is dropped rather than waited for.
func (s *session) computeHash(ctx context.Context, x *transfer, req hashRequest, size int64) (string, error) {
	drv := s.driver()
	// Not through Unwrap: a read beside the wrapper's Open (doc.go).
	if h, ok := drv.(ClientDriverExtensionHasher); ok {
		end := req.end
		if req.start == 0 && end == size {
			end = 0 // the whole file, which a driver may have stored
		}
		type result struct {
			digest string
			err    error
		}
		done := make(chan result, 1)
		go func() {
			d, err := h.ComputeHash(req.path, req.algo, req.start, end)
			done <- result{strings.ToLower(d), err}
		}()
		select {
		case r := <-done:
			return r.digest, r.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f, err := drv.Open(req.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if req.start > 0 {
		if _, err := f.Seek(req.start, io.SeekStart); err != nil {
			return "", err
		}
	}
	hw := newHash(req.algo)
	buf := make([]byte, 64<<10)
	remaining := req.end - req.start
	for remaining > 0 {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := io.CopyBuffer(hw, io.LimitReader(readerOnly{f}, min(remaining, hashReadChunk)), buf)
		remaining -= n
		x.bytes.Add(n)
		if err != nil {
			return "", err
		}
		if n == 0 {
			// The file shrank since Stat: hash what there was, but do
			// not claim a range the digest does not cover.
			return "", fmt.Errorf("%s: %w", req.path, io.ErrUnexpectedEOF)
		}
	}
	return hex.EncodeToString(hw.Sum(nil)), nil
}
