package engine

// Helpers of the protocol tests (commands, bad input, listings, transfers,
// a real client). Their names start with "pt" so that they cannot collide
// with helpers of the package's other test files.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// ptDeadline bounds every wait of the protocol tests.
const ptDeadline = 10 * time.Second

// ptStep is one command of a script and the reply it must get; when text
// is not empty the reply must also contain it.
type ptStep struct {
	line string
	code int
	text string
}

// ptRun sends each step and checks its reply.
func ptRun(t testing.TB, c *rawClient, steps []ptStep) {
	t.Helper()
	for _, st := range steps {
		code, text := c.cmd(st.line)
		if code != st.code {
			t.Fatalf("%s: got %d %q, want %d", st.line, code, text, st.code)
		}
		if st.text != "" && !strings.Contains(text, st.text) {
			t.Fatalf("%s: reply %d %q does not contain %q", st.line, code, text, st.text)
		}
	}
}

// ptWriteRaw writes bytes to the control connection as they are.
func ptWriteRaw(t testing.TB, c *rawClient, b []byte) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ptDeadline))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatalf("write %q: %v", ptShort(b), err)
	}
}

// ptShort abbreviates long byte strings in failure messages.
func ptShort(b []byte) string {
	if len(b) > 60 {
		return fmt.Sprintf("%s...(%d bytes)", b[:60], len(b))
	}
	return string(b)
}

// ptExpectClosed fails unless the server closes the control connection
// without sending anything more.
func ptExpectClosed(t testing.TB, c *rawClient) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ptDeadline))
	rest, err := io.ReadAll(c.r)
	if err != nil && !errors.Is(err, net.ErrClosed) && !ptIsReset(err) {
		t.Fatalf("waiting for the server to close: %v (read %q)", err, rest)
	}
	if len(rest) > 0 {
		t.Fatalf("unexpected bytes before close: %q", rest)
	}
}

// ptIsReset reports a connection reset, which is how a close with unread
// input shows.
func ptIsReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// ptAssertServing fails unless the server logs in a new client and
// answers it.
func ptAssertServing(t testing.TB, ts *testServer) {
	t.Helper()
	c := ts.login(t)
	c.expect("NOOP", 200)
	c.expect("QUIT", 221)
}

// ptReadAll reads a data connection to its end under a deadline.
func ptReadAll(t testing.TB, conn net.Conn) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(ptDeadline))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read data connection: %v (after %d bytes)", err, len(b))
	}
	return b
}

// ptWriteFile puts a file on fs.
func ptWriteFile(t testing.TB, fs afero.Fs, name string, content []byte) {
	t.Helper()
	if err := afero.WriteFile(fs, name, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ptMkdir makes a directory on fs.
func ptMkdir(t testing.TB, fs afero.Fs, name string) {
	t.Helper()
	if err := fs.MkdirAll(name, 0o755); err != nil {
		t.Fatal(err)
	}
}

// ptReadFile returns a file of fs.
func ptReadFile(t testing.TB, fs afero.Fs, name string) []byte {
	t.Helper()
	b, err := afero.ReadFile(fs, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// ptAssertMissing fails unless name is absent from fs.
func ptAssertMissing(t testing.TB, fs afero.Fs, name string) {
	t.Helper()
	if _, err := fs.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: Stat gave %v, want not-exist", name, err)
	}
}

// ptRandom returns n reproducible pseudo-random bytes.
func ptRandom(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

// ptAssertBytes compares transferred bytes without printing megabytes.
func ptAssertBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// ptOSFs returns a filesystem on a fresh temporary directory, and that
// directory.
func ptOSFs(t testing.TB) (afero.Fs, string) {
	t.Helper()
	dir := t.TempDir()
	return afero.NewBasePathFs(afero.NewOsFs(), dir), dir
}

// ptLines splits a listing into its CRLF-terminated lines, failing on a
// line that does not end in CRLF.
func ptLines(t testing.TB, listing string) []string {
	t.Helper()
	if listing == "" {
		return nil
	}
	if !strings.HasSuffix(listing, "\r\n") {
		t.Fatalf("listing does not end in CRLF: %q", listing)
	}
	lines := strings.Split(strings.TrimSuffix(listing, "\r\n"), "\r\n")
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("listing line with a bare CR or LF: %q", l)
		}
	}
	return lines
}

// ptActive listens on 127.0.0.1 for an active-mode data connection and
// returns the listener and the PORT argument that names it.
func ptActive(t testing.TB) (*net.TCPListener, string) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	return ln, fmt.Sprintf("127,0,0,1,%d,%d", port>>8, port&0xff)
}

// ptAccept takes the server's active-mode data connection.
func ptAccept(t testing.TB, ln *net.TCPListener) net.Conn {
	t.Helper()
	_ = ln.SetDeadline(time.Now().Add(ptDeadline))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept active data connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// ptEndlessFs serves "/endless" as a file that never ends, for transfers
// that must still be running when the test acts on them.
type ptEndlessFs struct{ afero.Fs }

func (fs ptEndlessFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := fs.Fs.OpenFile(name, flag, perm)
	if err != nil || name != "/endless" {
		return f, err
	}
	return ptEndlessFile{f}, nil
}

type ptEndlessFile struct{ afero.File }

func (ptEndlessFile) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
