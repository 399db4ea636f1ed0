package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/bench/loadgen"
)

// featClient is the feature benchmarks' FTP client. loadgen.Client dials
// by itself and has no way to send a PROXY header first, so this client
// speaks the few commands the transfers need through net/textproto, and
// moves and checks bytes with loadgen's Send and Hasher as loadgen.Client
// does (sendfile out of a file, one write out of memory, CRC-32C in). The
// feature benchmarks use it against both servers, with and without
// headers, so that the two sides of a ratio face the same client.
type featClient struct {
	addr    string
	proxy   bool // dial with DialProxied
	conn    net.Conn
	tp      *textproto.Conn
	timeout time.Duration
	buf     []byte // receive buffer
}

// featTimeout bounds each command and each transfer's silence.
const featTimeout = 60 * time.Second

// dialFeat connects to addr, with a PROXY header on every connection when
// proxy is set, and logs in.
func dialFeat(addr string, proxy bool) (*featClient, error) {
	c := &featClient{addr: addr, proxy: proxy, timeout: featTimeout, buf: make([]byte, 256<<10)}
	conn, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	c.conn, c.tp = conn, textproto.NewConn(conn)
	_ = conn.SetDeadline(time.Now().Add(c.timeout))
	if _, _, err := c.tp.ReadResponse(220); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("banner: %w", err)
	}
	for _, step := range []struct {
		code int
		line string
	}{{331, "USER " + User}, {230, "PASS " + Pass}, {200, "TYPE I"}} {
		if _, err := c.cmd(step.code, step.line); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *featClient) dial(addr string) (net.Conn, error) {
	if c.proxy {
		return DialProxied(addr, c.timeout)
	}
	return net.DialTimeout("tcp", addr, c.timeout)
}

// cmd sends line and reads a reply whose code starts with code's digits
// (textproto's rule: 1 accepts any 1xx).
func (c *featClient) cmd(code int, line string) (string, error) {
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return "", err
	}
	_, msg, err := c.tp.ReadResponse(code)
	if err != nil {
		return msg, fmt.Errorf("%s: %w", strings.Fields(line)[0], err)
	}
	return msg, nil
}

// openData sends EPSV and connects to the port it names.
func (c *featClient) openData() (net.Conn, error) {
	msg, err := c.cmd(229, "EPSV")
	if err != nil {
		return nil, err
	}
	port, err := epsvPort(msg)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(c.addr)
	return c.dial(net.JoinHostPort(host, strconv.Itoa(port)))
}

// epsvPort finds the port in "Entering Extended Passive Mode (|||port|)".
func epsvPort(msg string) (int, error) {
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i+4 {
		return 0, fmt.Errorf("malformed EPSV reply %q", msg)
	}
	port, err := strconv.Atoi(msg[i+4 : j])
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("malformed EPSV reply %q", msg)
	}
	return port, nil
}

// transfer opens a data connection, sends line, runs move on the data
// connection, closes it and reads the final reply.
func (c *featClient) transfer(line string, move func(net.Conn) error) error {
	data, err := c.openData()
	if err != nil {
		return err
	}
	defer data.Close()
	if _, err := c.cmd(1, line); err != nil {
		return err
	}
	merr := move(data)
	if err := data.Close(); merr == nil {
		merr = err
	}
	if merr != nil {
		return merr
	}
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, _, err := c.tp.ReadResponse(2); err != nil {
		return fmt.Errorf("%s: %w", line, err)
	}
	return nil
}

// retr downloads path and returns the Sum of the bytes received.
func (c *featClient) retr(path string) (loadgen.Sum, error) {
	var h loadgen.Hasher
	err := c.transfer("RETR "+path, func(data net.Conn) error {
		for {
			_ = data.SetReadDeadline(time.Now().Add(c.timeout))
			n, err := data.Read(c.buf)
			_, _ = h.Write(c.buf[:n])
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	return h.Sum(), err
}

// stor uploads what src yields to path and returns the bytes sent.
func (c *featClient) stor(path string, src io.Reader) (int64, error) {
	var n int64
	err := c.transfer("STOR "+path, func(data net.Conn) error {
		var err error
		n, err = loadgen.Send(data, src, c.timeout)
		return err
	})
	return n, err
}

// quit sends QUIT and closes the connection.
func (c *featClient) quit() {
	_, _ = c.cmd(221, "QUIT")
	_ = c.conn.Close()
}

// FuzzEPSVPort checks that any EPSV reply text yields a valid port or an
// error, never a panic.
func FuzzEPSVPort(f *testing.F) {
	for _, s := range []string{"Entering Extended Passive Mode (|||40123|)", "(|||", "|)(|||", "(|||-1|)", "(|||70000|)", "(||||)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		port, err := epsvPort(msg)
		if err == nil && (port <= 0 || port > 65535) {
			t.Errorf("epsvPort(%q) = %d without an error", msg, port)
		}
	})
}
