package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// transfer is one running data transfer. The command loop starts it and
// may abort it; its own goroutine opens the data connection, copies, and
// sends the final reply.
type transfer struct {
	verb    string
	path    string
	dir     Direction
	offset  int64
	started time.Time
	done    chan struct{} // closed after the final reply
	bytes   atomic.Int64  // bytes moved so far, for STAT
	// cmd is the command that started it while ResultHooks wait for its
	// Result; code is its final reply's code, data says it is a data
	// transfer rather than a job. Only its own goroutine sets code.
	cmd  *Command
	code int
	data bool
	// zeroCopy says the engine's copy moved the bytes by sendfile or
	// splice (Result.ZeroCopy).
	zeroCopy atomic.Bool

	// The data connection set up by PASV/EPSV or PORT/EPRT; one of them.
	pasv   *passiveListener
	active *net.TCPAddr

	mu      sync.Mutex
	aborted bool
	conn    net.Conn // the data connection once open
	cancel  context.CancelFunc
}

// abort stops the transfer wherever it is: waiting for the data
// connection, in the handshake, or copying.
func (x *transfer) abort() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.aborted {
		return
	}
	x.aborted = true
	if x.conn != nil {
		_ = x.conn.Close()
	}
	if x.pasv != nil {
		x.pasv.close()
	}
	x.cancel()
}

func (x *transfer) isAborted() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.aborted
}

// setConn records the data connection so abort can close it; after an
// abort it closes conn instead and reports false.
func (x *transfer) setConn(conn net.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.aborted {
		_ = conn.Close()
		return false
	}
	x.conn = conn
	return true
}

// transferJob is what a transfer command hands to the transfer goroutine.
type transferJob struct {
	verb     string
	path     string
	dir      Direction
	offset   int64
	file     FileTransfer // the driver's handle; nil for listings
	listing  io.Reader    // the generated listing of LIST, NLST, MLSD
	release  func()       // closes what the listing reads, when not nil
	opening  string       // the 150 reply
	complete string       // the 226 reply
}

// finish closes the job's handle. A failed transfer tells the handle why
// first (FileTransferError). The returned error is Close's.
func (j *transferJob) finish(failure error) error {
	if j.release != nil {
		j.release()
	}
	if j.file == nil {
		return nil
	}
	if failure != nil {
		if fte, ok := fileExt[FileTransferError](j.file); ok {
			fte.TransferError(failure)
		}
	}
	return j.file.Close()
}

// readyForTransfer reports whether PASV/EPSV or PORT/EPRT prepared a data
// connection, and answers 425 or 521 when the next transfer cannot start.
func (s *session) readyForTransfer() bool {
	if s.pasv == nil && s.activeAddr == nil {
		s.reply(425, "Use PASV, EPSV, PORT or EPRT first.")
		return false
	}
	if s.st.TLSRequired != ClearOrEncrypted && !s.HasTLSForTransfers() {
		s.reply(521, "Data connections must be protected: use PROT P.")
		return false
	}
	if p := s.protected; p != nil && p.RequireProtectedData() && !s.HasTLSForTransfers() {
		s.reply(521, "Data connections must be protected for this user: use PROT P.")
		return false
	}
	return true
}

// startTransfer sends the 150 reply and runs job in its own goroutine, so
// that ABOR, STAT and QUIT stay possible meanwhile.
func (s *session) startTransfer(job *transferJob) {
	ctx, cancel := context.WithCancel(s.ctx)
	x := &transfer{
		verb:    job.verb,
		path:    job.path,
		dir:     job.dir,
		offset:  job.offset,
		started: time.Now(),
		done:    make(chan struct{}),
		pasv:    s.pasv,
		active:  s.activeAddr,
		cancel:  cancel,
		cmd:     s.cur,
		data:    true,
	}
	s.cur = nil // the transfer gives the Result
	s.pasv, s.activeAddr = nil, nil
	s.restOffset = 0
	s.mu.Lock()
	s.xfer = x
	s.mu.Unlock()
	s.reply(150, job.opening)
	go s.runTransfer(ctx, x, job)
}

// runningTransfer returns the running transfer, or nil.
func (s *session) runningTransfer() *transfer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.xfer
}

func (s *session) transferRunning() bool { return s.runningTransfer() != nil }

// endTransfer aborts the running transfer, if any, and waits for it.
func (s *session) endTransfer() {
	if x := s.runningTransfer(); x != nil {
		x.abort()
		<-x.done
	}
}

func (s *session) runTransfer(ctx context.Context, x *transfer, job *transferJob) {
	defer s.transferEnded(x)
	defer x.cancel()
	conn, err := s.openDataConn(ctx, x)
	if err != nil {
		if x.isAborted() {
			// ABOR or the session's end closed the listener or the
			// dial: the handle learns why, not the closed socket.
			_ = job.finish(ErrTransferAborted)
			s.finalReply(x, 426, "Transfer aborted.")
		} else {
			_ = job.finish(err)
			s.log.Info("ftp: data connection failed", "verb", x.verb, "err", err)
			x.code = s.replyError(err, 425, "Cannot open data connection: "+dataConnErrorText(err))
		}
		return
	}
	n, err := s.copyData(ctx, x, job, conn)
	if job.dir == Upload && isRefusal(err) && !x.isAborted() {
		drainRefusedUpload(conn)
	}
	// Closing a TLS connection sends close_notify, which tells the client
	// that a download is complete rather than cut.
	_ = conn.Close()
	if err != nil {
		_ = job.finish(err)
		s.logTransfer(x, n, err)
		x.code = s.replyTransferError(err)
		return
	}
	if err := job.finish(nil); err != nil {
		s.logTransfer(x, n, err)
		code, msg := replyFor(err, 451, "Local error: the file could not be completed.")
		s.finalReply(x, code, msg)
		return
	}
	s.logTransfer(x, n, nil)
	s.finalReply(x, 226, job.complete)
}

// finalReply sends a transfer's or job's final reply and keeps its code
// for the Result; only the transfer's own goroutine calls it.
func (s *session) finalReply(x *transfer, code int, text string) {
	x.code = code
	s.reply(code, text)
}

// Bounds of the drain of a refused upload.
const (
	refusedUploadDrainTime  = 2 * time.Second
	refusedUploadDrainBytes = 64 << 20
)

// isRefusal reports whether an upload ended because the server refused
// its bytes (a quota, a policy's size cap, the MODE Z bound), rather than
// because the client, the network or ABOR ended it.
func isRefusal(err error) bool {
	var re *ReplyError
	return err != nil && (errors.As(err, &re) || errors.Is(err, ErrDecompressedUploadTooLarge)) &&
		!errors.Is(err, ErrTransferAborted) && !errors.Is(err, ErrDataConnStalled)
}

// drainRefusedUpload reads and drops what the client still sends on an
// upload the server refused, within bounds of time and size. Closing a
// socket with unread bytes makes the kernel reset it, and a client whose
// send fails on the reset gives up before it reads the refusal on the
// control connection; draining lets it finish sending and see the 552.
func drainRefusedUpload(conn net.Conn) {
	_ = conn.SetReadDeadline(time.Now().Add(refusedUploadDrainTime))
	_, _ = io.CopyN(io.Discard, conn, refusedUploadDrainBytes)
}

// transferEnded clears the running transfer and, when the server is
// shutting down, ends the session now that it is idle.
func (s *session) transferEnded(x *transfer) {
	s.transferResult(x)
	s.mu.Lock()
	s.xfer = nil
	closing := s.closing
	s.mu.Unlock()
	close(x.done)
	if closing {
		s.farewell(421, "Server is shutting down.")
	}
}

// replyTransferError answers a transfer that failed after it started and
// returns the code it sent.
func (s *session) replyTransferError(err error) int {
	switch {
	case errors.Is(err, ErrTransferAborted):
		s.reply(426, "Transfer aborted.")
	case errors.Is(err, ErrDataConnStalled):
		s.reply(426, "Data connection stalled; transfer aborted.")
	case isNetworkError(err):
		s.reply(426, "Data connection closed; transfer aborted.")
	default:
		return s.replyError(err, 451, "Local error: transfer failed.")
	}
	return 426
}

// logTransfer logs a transfer's end. It runs once per file, so it builds
// slog.Attr values itself (LogAttrs) instead of key-value pairs that slog
// would box and convert, and builds nothing when Info is off.
func (s *session) logTransfer(x *transfer, n int64, err error) {
	if !s.log.Enabled(s.ctx, slog.LevelInfo) {
		return
	}
	attrs := [5]slog.Attr{
		slog.String("verb", x.verb), slog.String("path", x.path), slog.Int64("bytes", n),
		slog.Duration("duration", time.Since(x.started).Round(time.Microsecond)),
	}
	if err != nil {
		attrs[4] = slog.Any("err", err)
		s.log.LogAttrs(s.ctx, slog.LevelInfo, "ftp: transfer failed", attrs[:]...)
		return
	}
	s.log.LogAttrs(s.ctx, slog.LevelInfo, "ftp: transfer complete", attrs[:4]...)
}

// isNetworkError reports whether err came from the data connection rather
// than from the file.
func isNetworkError(err error) bool {
	var op *net.OpError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	return errors.As(err, &op) || errors.As(err, &alert) || errors.As(err, &rec) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF)
}

// copyData moves the job's bytes between its file and the data connection
// through the transfer hooks.
func (s *session) copyData(ctx context.Context, x *transfer, job *transferJob, conn net.Conn) (int64, error) {
	ascii := s.transferType == TransferTypeASCII && job.listing == nil
	var dst io.Writer
	var src io.Reader
	// MODE Z (modez.go) sits next to the connection: TYPE A converts
	// what is compressed and what was decompressed.
	var finishZ func(error) error
	// Deadlines and closing stay on conn; only the bytes take the socket.
	data := transferConn(conn)
	if job.dir == Download {
		if job.listing != nil {
			src = job.listing
		} else {
			src = unwrapFile(job.file)
		}
		if ascii {
			src = newASCIIEncoder(src)
		}
		dst = data
		if s.ext.modeZ {
			dst, finishZ = s.modeZWriter(data)
		}
	} else {
		src = data
		if s.ext.modeZ {
			src = newModeZReader(data, s.st.maxDecompressedUpload())
		}
		if ascii {
			src = newASCIIDecoder(src)
		}
		dst = unwrapFile(job.file)
	}
	copyFn := s.baseCopy(x, conn)
	if hooks := s.srv.TransferHooks; len(hooks) > 0 {
		_, isTLS := conn.(*tls.Conn)
		t := &Transfer{Session: s, Verb: x.verb, Path: x.path, Direction: x.dir, Offset: x.offset, TLS: isTLS}
		for i := len(hooks) - 1; i >= 0; i-- {
			copyFn = hooks[i](t, copyFn)
		}
	}
	n, err := copyFn(ctx, dst, src)
	if finishZ != nil {
		err = finishZ(err)
	}
	return n, err
}

// Chunk sizes of the base copy. Each chunk renews the data connection's
// deadline, so a chunk must take well under the stall timeout; the size
// adapts to the client's speed between these bounds.
const (
	minCopyChunk   = 16 << 10
	startCopyChunk = 256 << 10
	maxCopyChunk   = 16 << 20
	copyBufferSize = 128 << 10
)

// baseCopy returns the engine's CopyFunc for a transfer on conn: a loop of
// bounded chunks, each under a fresh deadline, that keeps Go's sendfile
// and splice paths and counts progress for STAT.
func (s *session) baseCopy(x *transfer, conn net.Conn) CopyFunc {
	stall := s.st.connectionTimeout()
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		var buf []byte
		if !zeroCopyPossible(dst, src) {
			bp, release := s.srv.copyBuffer()
			defer release()
			buf = *bp
		} else {
			x.zeroCopy.Store(true)
		}
		var total int64
		chunk := int64(startCopyChunk)
		for {
			if x.isAborted() || ctx.Err() != nil {
				return total, ErrTransferAborted
			}
			start := time.Now()
			_ = conn.SetDeadline(start.Add(stall))
			n, err := copyChunk(dst, src, chunk, buf)
			total += n
			x.bytes.Add(n)
			switch {
			case errors.Is(err, io.EOF):
				return total, nil
			case err != nil && (x.isAborted() || ctx.Err() != nil):
				return total, ErrTransferAborted
			case errors.Is(err, os.ErrDeadlineExceeded):
				return total, ErrDataConnStalled
			case err != nil:
				return total, err
			}
			switch elapsed := time.Since(start); {
			case elapsed < stall/64 && chunk < maxCopyChunk:
				chunk *= 2
			case elapsed > stall/8 && chunk > minCopyChunk:
				chunk /= 2
			}
		}
	}
}

// maxLimitDepth bounds how many nested *io.LimitedReader copyChunk
// flattens without allocating.
const maxLimitDepth = 4

// copyChunk copies at most limit bytes from src to dst and returns io.EOF
// once src is exhausted. Nested *io.LimitedReader values around src are
// flattened into one, because Go's sendfile and splice paths look through
// exactly one. With buf nil it leaves the copy to io.Copy (and so to
// ReadFrom/WriteTo); with buf it copies through buf.
func copyChunk(dst io.Writer, src io.Reader, limit int64, buf []byte) (int64, error) {
	var outer [maxLimitDepth]*io.LimitedReader
	depth := 0
	for depth < maxLimitDepth {
		lr, ok := src.(*io.LimitedReader)
		if !ok {
			break
		}
		outer[depth] = lr
		depth++
		limit = min(limit, lr.N)
		src = lr.R
	}
	if limit <= 0 {
		return 0, io.EOF
	}
	lim := &io.LimitedReader{R: src, N: limit}
	var n int64
	var err error
	if buf == nil {
		n, err = io.Copy(dst, lim)
	} else {
		n, err = io.CopyBuffer(writerOnly{dst}, readerOnly{lim}, buf)
	}
	for i := range depth {
		outer[i].N -= n
	}
	if err == nil && n < limit {
		err = io.EOF
	}
	return n, err
}

// writerOnly and readerOnly hide ReadFrom and WriteTo, so that
// io.CopyBuffer uses the pooled buffer instead of allocating its own.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// zeroCopyPossible reports whether io.Copy from src to dst reaches
// sendfile (file to socket) or splice (socket to file) on Linux, the
// latter also through an upload handle that says so (FileTransferSplice).
func zeroCopyPossible(dst io.Writer, src io.Reader) bool {
	for {
		lr, ok := src.(*io.LimitedReader)
		if !ok {
			break
		}
		src = lr.R
	}
	switch d := dst.(type) {
	case *net.TCPConn:
		_, ok := src.(*os.File)
		return ok
	case *os.File:
		_, ok := src.(*net.TCPConn)
		return ok
	case FileTransferSplice:
		_, ok := src.(*net.TCPConn)
		return ok && d.SpliceFrom()
	}
	return false
}
