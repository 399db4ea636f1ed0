// Package redistest starts Debian's redis-server for tests: one process
// per Start, on 127.0.0.1 with a free port and a temporary directory,
// without persistence (--save ” --appendonly no), stopped by the test's
// Cleanup. Stop and Restart (same port) let a test take Redis away and
// bring it back, for the outage and recovery behaviour.
//
// When redis-server is missing the test is skipped, or fails under
// FTPGATE_INTEGRATION=1 (CI installs it: .ci/test).
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long Start and Restart wait for redis-server to
// accept connections; an upper bound only, never a synchronisation.
const startTimeout = 30 * time.Second

// maxLog bounds the redis-server output kept for a failure message.
const maxLog = 16 << 10

// Server is one redis-server process started by Start. Its methods are
// safe for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *ringBuffer
}

// Binary returns the path of redis-server, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Require skips t when redis-server is missing, or fails it under
// FTPGATE_INTEGRATION=1, and returns its path.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("FTPGATE_INTEGRATION") == "1" {
			t.Fatal("redis-server is missing (apt-get install redis-server); FTPGATE_INTEGRATION=1 needs it")
		}
		t.Skip("redis-server is missing (apt-get install redis-server)")
	}
	return bin
}

// Start starts a redis-server on 127.0.0.1 with a free port and a fresh
// temporary directory, and returns when it accepts connections. args are
// more redis-server options (e.g. "--appendonly", "yes"), after the
// defaults so that they win. The server is stopped by t.Cleanup.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t), dir: t.TempDir(), args: args}
	t.Cleanup(s.Stop)
	var err error
	// A free port found by listening can be taken again before
	// redis-server binds it: try a few.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// Addr returns the server's HOST:PORT.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir returns the server's working directory (where a dump or an
// append-only file would go).
func (s *Server) Dir() string { return s.dir }

// Stop stops the server (SIGTERM, then SIGKILL after startTimeout) and
// waits for it to exit; a stopped server's port refuses connections.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(startTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same
// port and directory (without persistence, it starts empty).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if err := s.startLocked(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

// startLocked runs redis-server and waits for its "Ready to accept
// connections" line.
func (s *Server) startLocked() error {
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
		"--unixsocket", "", "--protected-mode", "yes", "--databases", "1"}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	log := &ringBuffer{}
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			log.write(line)
			if !signalled && strings.Contains(line, "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
		s.cmd, s.done, s.log = cmd, done, log
		return nil
	case <-done:
		return fmt.Errorf("redis-server on port %d exited before it was ready:\n%s", s.port, log.String())
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("redis-server was not ready within " + startTimeout.String() + ":\n" + log.String())
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ringBuffer keeps the last maxLog bytes of output lines.
type ringBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (r *ringBuffer) write(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.b.WriteString(line)
	r.b.WriteByte('\n')
	if r.b.Len() > maxLog {
		keep := r.b.Bytes()[r.b.Len()-maxLog/2:]
		r.b = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
}

func (r *ringBuffer) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.String()
}
