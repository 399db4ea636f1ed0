package engine

import (
	"net"
	"os"
)

// A small download's 150 reply is held back and written together with its
// 226, in one write, when nothing can wait on it: the client's data
// connection is already in the accept queue when the transfer starts, and
// the whole file goes out in one non-blocking sendfile. A client then
// reads "150 ...\r\n226 ..." at once, after the data, which it reads
// after the 150 as ever. That spares one reply write per download, about
// an eighth of a small download's system calls, and one wake-up of the
// client.
//
// The 150 is never held while the server waits for the client: before an
// accept that would wait (acceptReady), after refusing a stranger's
// connection, and when sendfile cannot take the whole file, it is written
// at once; any other reply (STAT's, ABOR's 426, a shutdown's 421) takes it
// with it first (writeLocked), so replies keep their order.

// quickRetrMax bounds the downloads whose 150 may be held: a file that
// the socket's send buffer can take in one go on loopback or a LAN. A
// larger one would only find out by a partial sendfile.
const quickRetrMax = 256 << 10

// quickDownload reports whether job, about to run as x, may hold its 150
// back: a plain download of an OS file of known small size over a plain
// TCP data connection from the session's own passive listener, with no
// transfer hooks, MODE Z, TYPE A or TLS between the file and the socket.
func (s *session) quickDownload(x *transfer, job *transferJob) bool {
	if !quickRetrSupported || job.dir != Download || job.listing != nil || job.file == nil ||
		job.size < 0 || job.size > quickRetrMax ||
		s.transferType == TransferTypeASCII || s.ext.modeZ || len(s.srv.TransferHooks) > 0 ||
		s.HasTLSForTransfers() {
		return false
	}
	if p := x.pasv; p == nil || p.raw == nil || p.own != net.Listener(p.raw) {
		return false
	}
	_, ok := unwrapFile(job.file).(*os.File)
	return ok
}

// takeHeld returns the reply held back by the running transfer, now the
// caller's to write, or nil. writeMu is held.
func (s *session) takeHeld() []byte {
	s.mu.Lock()
	x := s.xfer
	s.mu.Unlock()
	if x == nil || x.held == nil {
		return nil
	}
	h := x.held
	x.held = nil
	return h
}

// releaseHeld writes the reply the running transfer holds back, if any,
// before the transfer waits for the client.
func (s *session) releaseHeld() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.writeLocked(nil, replyWriteTimeout)
}

// sendSmall sends the job's file on conn without waiting: sendfile until
// the end of the file, or until the socket takes no more. done says the
// whole file went out; otherwise the caller copies the rest, from the
// file's position, the usual way.
func sendSmall(conn net.Conn, job *transferJob) (n int64, done bool, err error) {
	tc, ok := conn.(*net.TCPConn)
	f, fok := unwrapFile(job.file).(*os.File)
	if !ok || !fok {
		return 0, false, nil
	}
	return sendfileNow(tc, f)
}
