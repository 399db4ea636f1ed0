package engine

import (
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// MODE Z compresses the data connection with deflate in zlib framing (RFC
// 1950), which is what lftp and the other clients that offer it send and
// expect. It sits between the data connection and TYPE A's conversion:
// a download is converted, then compressed; an upload is decompressed,
// then converted. Transfer hooks see the uncompressed bytes.

// defaultMaxDecompressedUpload is the bound of
// Settings.MaxDecompressedUploadSize when it is 0.
const defaultMaxDecompressedUpload = 1 << 30

// ErrDecompressedUploadTooLarge is what a MODE Z upload's FileTransferError
// learns when the upload expanded past Settings.MaxDecompressedUploadSize;
// the client gets 552.
var ErrDecompressedUploadTooLarge = errors.New("MODE Z upload expands past the configured bound")

// modeZLevel returns the compression level for sessions that did not
// choose one.
func (st *Settings) modeZLevel() int {
	if st.ModeZLevel < 1 || st.ModeZLevel > 9 {
		return zlib.DefaultCompression
	}
	return st.ModeZLevel
}

// maxDecompressedUpload returns the bound on a MODE Z upload's
// decompressed bytes, or -1 for none.
func (st *Settings) maxDecompressedUpload() int64 {
	switch {
	case st.MaxDecompressedUploadSize < 0:
		return -1
	case st.MaxDecompressedUploadSize == 0:
		return defaultMaxDecompressedUpload
	}
	return st.MaxDecompressedUploadSize
}

// handleMODE sets the transfer mode: S (stream) or, unless disabled, Z.
func (s *session) handleMODE(c *Command) {
	switch strings.ToUpper(strings.TrimSpace(c.Arg)) {
	case "S":
		s.ext.modeZ = false
		s.reply(200, "Mode set to S.")
	case "Z":
		if s.st.DisableModeZ {
			s.reply(504, "Only MODE S is supported.")
			return
		}
		s.ext.modeZ = true
		s.reply(200, "Mode set to Z.")
	default:
		if s.st.DisableModeZ {
			s.reply(504, "Only MODE S is supported.")
			return
		}
		s.reply(504, "Only MODE S and MODE Z are supported.")
	}
}

// modeName names the transfer mode for STAT.
func (s *session) modeName() string {
	if s.ext.modeZ {
		return "Z (zlib)"
	}
	return "Stream"
}

// optsMODE answers `OPTS MODE Z LEVEL n` (0 to 9).
func (s *session) optsMODE(value string) {
	fields := strings.Fields(strings.ToUpper(value))
	if s.st.DisableModeZ {
		s.reply(501, "MODE Z is not enabled.")
		return
	}
	if len(fields) != 3 || fields[0] != "Z" || fields[1] != "LEVEL" || len(fields[2]) != 1 || !isDigits(fields[2]) {
		s.reply(501, "Syntax: OPTS MODE Z LEVEL n, with n from 0 to 9.")
		return
	}
	level, _ := strconv.Atoi(fields[2])
	s.ext.zLevelSet, s.ext.zLevel = true, level
	s.reply(200, "MODE Z LEVEL set to "+fields[2]+".")
}

// zLevel returns the session's compression level.
func (s *session) zLevel() int {
	if s.ext.zLevelSet {
		return s.ext.zLevel
	}
	return s.st.modeZLevel()
}

// modeZWriter compresses a download onto conn. finish must be called with
// the copy's outcome: on success it writes the end of the zlib stream
// under a fresh stall deadline.
func (s *session) modeZWriter(conn net.Conn) (io.Writer, func(error) error) {
	zw, err := zlib.NewWriterLevel(conn, s.zLevel())
	if err != nil {
		// Only an invalid level fails, and zLevel gives valid ones.
		zw = zlib.NewWriter(conn)
	}
	stall := s.st.connectionTimeout()
	return zw, func(copyErr error) error {
		if copyErr != nil {
			return copyErr
		}
		_ = conn.SetDeadline(time.Now().Add(stall))
		if err := zw.Close(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return ErrDataConnStalled
			}
			return err
		}
		return nil
	}
}

// modeZReader is the decompressing side of a MODE Z upload. It creates
// the zlib reader on the first Read, so that reading the header already
// happens under the copy's stall deadline, and it refuses to expand past
// limit bytes (a few KiB of zlib data can stand for gigabytes).
type modeZReader struct {
	src   io.Reader
	zr    io.ReadCloser
	limit int64 // -1: no limit
	n     int64 // bytes returned so far
	err   error // sticky
}

func newModeZReader(src io.Reader, limit int64) *modeZReader {
	return &modeZReader{src: src, limit: limit}
}

// Read returns decompressed bytes.
func (r *modeZReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.zr == nil {
		zr, err := zlib.NewReader(r.src)
		if err != nil {
			r.err = modeZDataError(err)
			return 0, r.err
		}
		r.zr = zr
	}
	if r.limit >= 0 {
		left := r.limit - r.n
		if left <= 0 {
			// At the bound: one more byte means the upload is too large.
			var one [1]byte
			n, err := r.zr.Read(one[:])
			switch {
			case n > 0:
				r.err = &uploadBoundError{limit: r.limit}
			case err != nil:
				r.err = modeZDataError(err)
			}
			if r.err == nil {
				return 0, nil
			}
			return 0, r.err
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := r.zr.Read(p)
	r.n += int64(n)
	if err != nil {
		r.err = modeZDataError(err)
	}
	return n, r.err
}

// modeZDataError turns zlib's complaints about the stream into a 451 the
// client can understand; EOF and the data connection's own errors pass
// through, so that the copy classifies them as usual (a stream cut short
// is io.ErrUnexpectedEOF: the client went away in the middle).
func modeZDataError(err error) error {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	if errors.Is(err, zlib.ErrHeader) || errors.Is(err, zlib.ErrChecksum) ||
		errors.Is(err, zlib.ErrDictionary) || errors.As(err, &corrupt) || errors.As(err, &internal) {
		return &modeZCorruptError{err: err}
	}
	return err
}

// modeZCorruptError is a MODE Z upload that is not a valid zlib stream.
type modeZCorruptError struct{ err error }

func (e *modeZCorruptError) Error() string { return "invalid MODE Z data: " + e.err.Error() }

func (e *modeZCorruptError) Unwrap() []error {
	return []error{e.err, &ReplyError{Code: 451, Message: "Upload aborted: the MODE Z data is not a valid zlib stream."}}
}

// uploadBoundError is a MODE Z upload that expanded past the bound. It is
// ErrDecompressedUploadTooLarge for FileTransferError and a 552 reply for
// the client.
type uploadBoundError struct{ limit int64 }

func (e *uploadBoundError) Error() string {
	return fmt.Sprintf("%v (%d bytes)", ErrDecompressedUploadTooLarge, e.limit)
}

func (e *uploadBoundError) Unwrap() []error {
	return []error{ErrDecompressedUploadTooLarge, &ReplyError{Code: 552,
		Message: fmt.Sprintf("Upload aborted: MODE Z data expands past %d bytes.", e.limit)}}
}
