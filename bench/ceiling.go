package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/ftpgate/ftpgate/bench/loadgen"
)

// ceilingTimeout bounds every ceiling transfer's silence.
const ceilingTimeout = 60 * time.Second

// copyBufferSize is the buffer of ceiling copies that cannot use sendfile
// or splice (TLS, memory): big enough for full 16 KiB TLS records.
const copyBufferSize = 256 << 10

// Opener opens the bytes a ceiling sends: an *os.File gives sendfile, a
// *bytes.Reader a single write. A returned io.Closer is closed after.
type Opener func() (io.Reader, error)

// OpenFile returns an Opener of the file name.
func OpenFile(name string) Opener {
	return func() (io.Reader, error) { return os.Open(name) }
}

// TLSPair is a server and a client TLS configuration for the TLS ceilings;
// the zero value means plain TCP.
type TLSPair struct{ Server, Client *tls.Config }

// pipe is one loopback connection of a ceiling: the server's end (after
// its TLS handshake) is handed to serve in its own goroutine.
func pipe(tp TLSPair, serve func(net.Conn) error) (client net.Conn, done <-chan error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	errc := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			errc <- err
			return
		}
		_ = conn.SetDeadline(time.Now().Add(ceilingTimeout * 10))
		if tp.Server != nil {
			tc := tls.Server(conn, tp.Server)
			if err := tc.Handshake(); err != nil {
				_ = conn.Close()
				errc <- err
				return
			}
			conn = tc
		}
		err = serve(conn)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		errc <- err
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), ceilingTimeout)
	if err != nil {
		_ = ln.Close()
		<-errc
		return nil, nil, err
	}
	if tp.Client != nil {
		tc := tls.Client(c, tp.Client)
		_ = tc.SetDeadline(time.Now().Add(ceilingTimeout))
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			<-errc
			return nil, nil, err
		}
		c = tc
	}
	return c, errc, nil
}

// copyOut copies src to a connection as well as Go can: io.Copy (sendfile
// from a file, one write from memory) on plain TCP, a large buffer on TLS.
func copyOut(conn net.Conn, src io.Reader) (int64, error) {
	if _, ok := conn.(*net.TCPConn); ok {
		return io.Copy(conn, src)
	}
	return io.CopyBuffer(writerOnly{conn}, readerOnly{src}, make([]byte, copyBufferSize))
}

type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

func closeIfCloser(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}

// CeilingDownload measures the raw-TCP (or crypto/tls) ceiling of a
// download: a sender that opens src and copies it to the connection
// (sendfile for a file on plain TCP), and the load generator's receiver,
// which checks the bytes against want.
func CeilingDownload(src Opener, want loadgen.Sum, tp TLSPair) (Measurement, error) {
	var got loadgen.Sum
	m, err := Measure(func() (int64, error) {
		conn, done, err := pipe(tp, func(conn net.Conn) error {
			r, err := src()
			if err != nil {
				return err
			}
			defer closeIfCloser(r)
			_, err = copyOut(conn, r)
			return err
		})
		if err != nil {
			return 0, err
		}
		got, err = loadgen.Receive(conn, ceilingTimeout)
		_ = conn.Close()
		if serr := <-done; err == nil {
			err = serr
		}
		return got.N, err
	})
	if err == nil {
		err = loadgen.Verify(got, want)
	}
	return m, err
}

// CeilingUpload measures the raw-TCP (or crypto/tls) ceiling of an upload:
// the load generator sends src (sendfile from a file on plain TCP), and the
// receiver writes into the file dst with io.Copy, which splices from a
// plain TCP connection, or, when dst is "", into memory. The received
// bytes are checked against want.
func CeilingUpload(src Opener, dst string, want loadgen.Sum, tp TLSPair) (Measurement, error) {
	var mem []byte
	m, err := Measure(func() (int64, error) {
		conn, done, err := pipe(tp, func(conn net.Conn) error {
			if dst == "" {
				mem = make([]byte, want.N+1)
				n, err := io.ReadFull(conn, mem)
				mem = mem[:n]
				if errors.Is(err, io.ErrUnexpectedEOF) {
					err = nil
				}
				return err
			}
			f, err := os.Create(dst)
			if err != nil {
				return err
			}
			if _, ok := conn.(*net.TCPConn); ok {
				_, err = io.Copy(f, conn) // (*os.File).ReadFrom: splice
			} else {
				_, err = io.CopyBuffer(writerOnly{f}, readerOnly{conn}, make([]byte, copyBufferSize))
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		})
		if err != nil {
			return 0, err
		}
		r, err := src()
		if err != nil {
			_ = conn.Close()
			<-done
			return 0, err
		}
		n, err := loadgen.Send(conn, r, ceilingTimeout)
		closeIfCloser(r)
		_ = conn.Close()
		if serr := <-done; err == nil {
			err = serr
		}
		return n, err
	})
	if err != nil {
		return m, err
	}
	var got loadgen.Sum
	if dst == "" {
		got = loadgen.SumOf(mem)
	} else if got, err = sumFile(dst); err != nil {
		return m, err
	}
	return m, loadgen.Verify(got, want)
}

// sumFile returns the Sum of a file's contents.
func sumFile(name string) (loadgen.Sum, error) {
	f, err := os.Open(name)
	if err != nil {
		return loadgen.Sum{}, err
	}
	defer f.Close()
	s, err := loadgen.SumReader(f)
	if err != nil {
		return s, fmt.Errorf("bench: reading %s: %w", name, err)
	}
	return s, nil
}
