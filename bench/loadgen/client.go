// Package loadgen is the benchmark suite's FTP client: a small, fast client
// that speaks raw control lines (login, optional explicit TLS with PROT P,
// EPSV or PASV, RETR, STOR, LIST, NOOP, SIZE, PWD) and checks every byte it
// moves against a CRC-32C sum, so that a benchmark that moved wrong bytes
// fails instead of reporting a fast number. It also runs the concurrent
// workloads (small files, sessions) shared by the benchmarks and the
// ftpload command.
package loadgen

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config says where and how a Client connects.
type Config struct {
	Addr string // control address, host:port
	User string // login name
	Pass string // password
	// TLS, when not nil, makes the client send AUTH TLS before logging in
	// and protect data connections (PBSZ 0, PROT P). Give it a
	// ClientSessionCache so that data connections can resume the control
	// connection's session.
	TLS *tls.Config
	// PASV makes the client use PASV instead of EPSV.
	PASV bool
	// Timeout bounds each command and each transfer's silence; 0 means 60 s.
	Timeout time.Duration
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 60 * time.Second
	}
	return c.Timeout
}

// Reply is a server reply: its code and its text (the last line's, for a
// multi-line reply).
type Reply struct {
	Code int
	Text string
}

// ReplyError is a reply other than the one a command expected.
type ReplyError struct {
	Cmd   string // the command sent, password hidden
	Reply Reply
}

// Error describes the unexpected reply.
func (e *ReplyError) Error() string {
	return fmt.Sprintf("loadgen: %s: unexpected reply %d %s", e.Cmd, e.Reply.Code, e.Reply.Text)
}

// Client is one FTP control connection. It is not safe for concurrent use.
type Client struct {
	cfg  Config
	conn net.Conn // a *tls.Conn after AUTH TLS
	r    *bufio.Reader
	buf  []byte // data receive buffer, allocated on first use
	prot bool   // PROT P in effect
}

// Dial connects to cfg.Addr and reads the 220 banner.
func Dial(cfg Config) (*Client, error) {
	conn, err := net.DialTimeout("tcp", cfg.Addr, cfg.timeout())
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, conn: conn, r: bufio.NewReaderSize(conn, 1024)}
	rep, err := c.readReply()
	if err == nil && rep.Code != 220 {
		err = &ReplyError{Cmd: "(banner)", Reply: rep}
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// Connect dials and logs in.
func Connect(cfg Config) (*Client, error) {
	c, err := Dial(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Login(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Login sends AUTH TLS first when the config has TLS, then USER and PASS,
// TYPE I, and PBSZ 0 and PROT P with TLS.
func (c *Client) Login() error {
	if c.cfg.TLS != nil {
		if _, err := c.Cmd(234, "AUTH TLS"); err != nil {
			return err
		}
		cfg := c.tlsConfig()
		tc := tls.Client(c.conn, cfg)
		_ = tc.SetDeadline(time.Now().Add(c.cfg.timeout()))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("loadgen: control TLS handshake: %w", err)
		}
		c.conn = tc
		c.r.Reset(tc)
	}
	rep, err := c.Cmd(0, "USER "+c.cfg.User)
	if err != nil {
		return err
	}
	switch rep.Code {
	case 230:
	case 331:
		if _, err := c.cmd(230, "PASS "+c.cfg.Pass, "PASS ****"); err != nil {
			return err
		}
	default:
		return &ReplyError{Cmd: "USER " + c.cfg.User, Reply: rep}
	}
	if _, err := c.Cmd(200, "TYPE I"); err != nil {
		return err
	}
	if c.cfg.TLS != nil {
		if _, err := c.Cmd(200, "PBSZ 0"); err != nil {
			return err
		}
		if _, err := c.Cmd(200, "PROT P"); err != nil {
			return err
		}
		c.prot = true
	}
	return nil
}

// tlsConfig returns the TLS configuration with ServerName set from the
// address when the caller left it empty.
func (c *Client) tlsConfig() *tls.Config {
	cfg := c.cfg.TLS
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(c.cfg.Addr)
	}
	return cfg
}

// Cmd sends a command line and reads the reply. With expect not 0, a reply
// with another code is returned as a *ReplyError.
func (c *Client) Cmd(expect int, line string) (Reply, error) {
	return c.cmd(expect, line, line)
}

func (c *Client) cmd(expect int, line, shown string) (Reply, error) {
	_ = c.conn.SetDeadline(time.Now().Add(c.cfg.timeout()))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return Reply{}, err
	}
	rep, err := c.readReply()
	if err != nil {
		return rep, fmt.Errorf("loadgen: %s: %w", shown, err)
	}
	if expect != 0 && rep.Code != expect {
		return rep, &ReplyError{Cmd: shown, Reply: rep}
	}
	return rep, nil
}

// maxReplyLines bounds a multi-line reply.
const maxReplyLines = 1000

// readReply reads one reply, single- or multi-line (RFC 959 4.2).
func (c *Client) readReply() (Reply, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.timeout()))
	line, err := c.readLine()
	if err != nil {
		return Reply{}, err
	}
	if len(line) == 3 {
		line += " " // "DDD" alone: a reply without text
	}
	code, more, err := parseReplyLine(line)
	if err != nil {
		return Reply{}, err
	}
	text := line[4:]
	for i := 0; more; i++ {
		if i == maxReplyLines {
			return Reply{}, errors.New("loadgen: multi-line reply too long")
		}
		if line, err = c.readLine(); err != nil {
			return Reply{}, err
		}
		if len(line) >= 4 && line[3] == ' ' && line[:3] == strconv.Itoa(code) {
			more = false
			text = line[4:]
		}
	}
	return Reply{Code: code, Text: text}, nil
}

func (c *Client) readLine() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// parseReplyLine parses "DDD text" or "DDD-text".
func parseReplyLine(line string) (code int, more bool, err error) {
	if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
		return 0, false, fmt.Errorf("loadgen: malformed reply %q", line)
	}
	code, err = strconv.Atoi(line[:3])
	if err != nil || code < 100 || code > 599 {
		return 0, false, fmt.Errorf("loadgen: malformed reply %q", line)
	}
	return code, line[3] == '-', nil
}

// Noop sends NOOP.
func (c *Client) Noop() error {
	_, err := c.Cmd(200, "NOOP")
	return err
}

// Size returns SIZE of path.
func (c *Client) Size(path string) (int64, error) {
	rep, err := c.Cmd(213, "SIZE "+path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(rep.Text), 10, 64)
}

// Pwd returns the working directory.
func (c *Client) Pwd() (string, error) {
	rep, err := c.Cmd(257, "PWD")
	if err != nil {
		return "", err
	}
	if i, j := strings.IndexByte(rep.Text, '"'), strings.LastIndexByte(rep.Text, '"'); i >= 0 && j > i {
		return rep.Text[i+1 : j], nil
	}
	return rep.Text, nil
}

// Quit sends QUIT and closes the connection.
func (c *Client) Quit() error {
	_, err := c.Cmd(221, "QUIT")
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the control connection without QUIT.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the control connection, for tests and for idle sessions
// that want to drop the client's buffers.
func (c *Client) Conn() net.Conn { return c.conn }

// openData asks for a passive data connection and connects to it.
func (c *Client) openData() (net.Conn, error) {
	host, _, err := net.SplitHostPort(c.cfg.Addr)
	if err != nil {
		return nil, err
	}
	var port int
	if c.cfg.PASV {
		rep, err := c.Cmd(227, "PASV")
		if err != nil {
			return nil, err
		}
		if host, port, err = parsePASV(rep.Text); err != nil {
			return nil, err
		}
	} else {
		rep, err := c.Cmd(229, "EPSV")
		if err != nil {
			return nil, err
		}
		if port, err = parseEPSV(rep.Text); err != nil {
			return nil, err
		}
	}
	return net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), c.cfg.timeout())
}

// parseEPSV finds the port in "Entering Extended Passive Mode (|||port|)".
func parseEPSV(text string) (int, error) {
	i := strings.IndexByte(text, '(')
	j := strings.LastIndexByte(text, ')')
	if i < 0 || j < i+5 {
		return 0, fmt.Errorf("loadgen: malformed EPSV reply %q", text)
	}
	inner := text[i+1 : j]
	d := inner[0]
	parts := strings.Split(inner, string(d))
	if len(parts) != 5 {
		return 0, fmt.Errorf("loadgen: malformed EPSV reply %q", text)
	}
	port, err := strconv.Atoi(parts[3])
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("loadgen: malformed EPSV reply %q", text)
	}
	return port, nil
}

// parsePASV finds the address in "Entering Passive Mode (h1,h2,h3,h4,p1,p2)".
func parsePASV(text string) (string, int, error) {
	start := strings.IndexAny(text, "0123456789")
	if start < 0 {
		return "", 0, fmt.Errorf("loadgen: malformed PASV reply %q", text)
	}
	end := start
	for end < len(text) && (text[end] == ',' || text[end] >= '0' && text[end] <= '9') {
		end++
	}
	f := strings.Split(text[start:end], ",")
	if len(f) != 6 {
		return "", 0, fmt.Errorf("loadgen: malformed PASV reply %q", text)
	}
	var v [6]int
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			return "", 0, fmt.Errorf("loadgen: malformed PASV reply %q", text)
		}
		v[i] = n
	}
	return fmt.Sprintf("%d.%d.%d.%d", v[0], v[1], v[2], v[3]), v[4]<<8 | v[5], nil
}

// transfer opens a data connection, sends line, expects 150 or 125, wraps
// the data connection in TLS under PROT P, runs move on it, closes it, and
// reads the final 226 (or 250).
func (c *Client) transfer(line string, move func(net.Conn) error) error {
	data, err := c.openData()
	if err != nil {
		return err
	}
	defer data.Close()
	rep, err := c.Cmd(0, line)
	if err != nil {
		return err
	}
	if rep.Code != 150 && rep.Code != 125 {
		return &ReplyError{Cmd: line, Reply: rep}
	}
	conn := data
	if c.prot {
		tc := tls.Client(data, c.tlsConfig())
		_ = tc.SetDeadline(time.Now().Add(c.cfg.timeout()))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("loadgen: data TLS handshake: %w", err)
		}
		conn = tc
	}
	merr := move(conn)
	cerr := conn.Close()
	if merr != nil {
		return merr
	}
	if cerr != nil {
		return cerr
	}
	rep, err = c.readReply()
	if err != nil {
		return fmt.Errorf("loadgen: %s: %w", line, err)
	}
	if rep.Code != 226 && rep.Code != 250 {
		return &ReplyError{Cmd: line, Reply: rep}
	}
	return nil
}

// Retr downloads path and returns the Sum of the bytes received.
func (c *Client) Retr(path string) (Sum, error) {
	var sum Sum
	err := c.transfer("RETR "+path, func(conn net.Conn) error {
		var err error
		sum, err = c.Receive(conn)
		return err
	})
	return sum, err
}

// RetrVerify downloads path and checks the bytes against want.
func (c *Client) RetrVerify(path string, want Sum) error {
	got, err := c.Retr(path)
	if err != nil {
		return err
	}
	return Verify(got, want)
}

// Stor uploads what src yields to path and returns how many bytes it sent.
// An *os.File src goes out with sendfile, a *bytes.Reader in one write.
func (c *Client) Stor(path string, src io.Reader) (int64, error) {
	var n int64
	err := c.transfer("STOR "+path, func(conn net.Conn) error {
		var err error
		n, err = Send(conn, src, c.cfg.timeout())
		return err
	})
	return n, err
}

// List runs LIST path and returns the listing.
func (c *Client) List(path string) ([]byte, error) {
	var out []byte
	line := "LIST"
	if path != "" {
		line += " " + path
	}
	err := c.transfer(line, func(conn net.Conn) error {
		var err error
		out, err = io.ReadAll(&deadlineReader{conn: conn, timeout: c.cfg.timeout()})
		return err
	})
	return out, err
}

// Receive reads conn to its end into a CRC-32C hasher, renewing the read
// deadline as bytes arrive. The ceilings use it too, so that a server and
// its ceiling face the same receiver.
func (c *Client) Receive(conn net.Conn) (Sum, error) {
	if c.buf == nil {
		c.buf = make([]byte, receiveBufferSize)
	}
	return receive(conn, c.buf, c.cfg.timeout())
}

// receiveBufferSize is the read size of downloads.
const receiveBufferSize = 256 << 10

// Receive reads conn to its end and returns the Sum of what it read,
// allowing timeout of silence.
func Receive(conn net.Conn, timeout time.Duration) (Sum, error) {
	return receive(conn, make([]byte, receiveBufferSize), timeout)
}

func receive(conn net.Conn, buf []byte, timeout time.Duration) (Sum, error) {
	var h Hasher
	var last time.Time
	for {
		if now := time.Now(); now.Sub(last) > timeout/4 {
			_ = conn.SetReadDeadline(now.Add(timeout))
			last = now
		}
		n, err := conn.Read(buf)
		_, _ = h.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return h.Sum(), nil
		}
		if err != nil {
			return h.Sum(), err
		}
	}
}

// Send copies src to conn with io.Copy, which uses sendfile for an
// *os.File and a *net.TCPConn, and a single write for a *bytes.Reader. The
// write deadline is timeout from now per 64 MiB.
func Send(conn net.Conn, src io.Reader, timeout time.Duration) (int64, error) {
	if br, ok := src.(*bytes.Reader); ok {
		// One write; allow timeout per 64 MiB.
		_ = conn.SetWriteDeadline(time.Now().Add(timeout * time.Duration(1+br.Len()>>26)))
		return br.WriteTo(conn)
	}
	var buf []byte
	if _, ok := conn.(*net.TCPConn); !ok {
		buf = make([]byte, 256<<10) // TLS: fewer, fuller records than io.Copy's 32 KiB
	}
	var total int64
	const chunk = 64 << 20
	for {
		_ = conn.SetWriteDeadline(time.Now().Add(timeout))
		var n int64
		var err error
		if buf == nil {
			n, err = io.Copy(conn, io.LimitReader(src, chunk))
		} else {
			n, err = io.CopyBuffer(writerOnly{conn}, readerOnly{io.LimitReader(src, chunk)}, buf)
		}
		total += n
		if err != nil || n < chunk {
			return total, err
		}
	}
}

// writerOnly hides ReadFrom so that io.CopyBuffer uses the given buffer.
type writerOnly struct{ io.Writer }

// deadlineReader renews conn's read deadline before each read.
type deadlineReader struct {
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.conn.Read(p)
}
