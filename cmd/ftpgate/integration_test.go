package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/internal/logbuf"
)

// The integration tests run the built `ftpgate serve` and drive it with
// real clients: curl, lftp and Python's ftplib. Without a client they skip,
// unless FTPGATE_INTEGRATION=1 (set by .ci/test), where they fail.

const (
	itUser     = "it"
	itPassword = "s3cret-pass"
	itTimeout  = 60 * time.Second
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// ftpgateBinary builds the server once per test run, with the race
// detector when the tests have it.
func ftpgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ftpgate-it-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "ftpgate")
		args := []string{"build", "-o", builtBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// requireTool returns the path of a client program, skipping the test
// when it is missing outside CI and failing it inside.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("FTPGATE_INTEGRATION") == "1" {
		t.Fatalf("%s is required by the integration tests but not installed", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

// itServer is a running `ftpgate serve`.
type itServer struct {
	*serveProc
	root     string
	addr     string      // control address, host:port
	implicit string      // implicit TLS address, or ""
	proc     *os.Process // for tests that signal it
	// telemetry is the telemetry listener's base URL, when a test set
	// one.
	telemetry string
}

// lockedBuffer collects a process's stderr for failure messages.
type lockedBuffer = logbuf.Buffer

var listeningLine = regexp.MustCompile(`^ftpgate: (listening on|implicit TLS on) (\S+)`)

// serveProc is a running ftpgate binary.
type serveProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	// done is closed once the process has exited, with exitErr set.
	done    chan struct{}
	exitErr error
}

// startServeProc starts cmd, an ftpgate binary, with its stderr kept for
// failure messages, and hands each line it prints on stdout to ready, in
// order and from one goroutine, until ready says it has announced what
// the test needs. It fails t when the process exits before that or
// stays silent past itTimeout. When t ends it stops the process with
// SIGTERM (SIGKILL after itTimeout); with cleanExit an exit status other
// than 0 fails t; a failed t logs the end of stderr.
func startServeProc(t *testing.T, cmd *exec.Cmd, cleanExit bool, ready func(line string) bool) *serveProc {
	t.Helper()
	p := &serveProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	announced := make(chan struct{})
	go func() {
		waiting := true
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if waiting && ready(sc.Text()) {
				waiting = false
				close(announced)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-announced:
	case <-p.done:
		t.Fatalf("ftpgate exited before listening: %v\n%s", p.exitErr, p.stderr)
	case <-time.After(itTimeout):
		_ = cmd.Process.Kill()
		t.Fatalf("ftpgate did not print its listening lines\n%s", p.stderr)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if cleanExit && p.exitErr != nil {
				t.Errorf("ftpgate exit: %v\n%s", p.exitErr, p.stderr)
			}
		case <-time.After(itTimeout):
			_ = cmd.Process.Kill()
			t.Errorf("ftpgate did not stop after SIGTERM\n%s", p.stderr)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", tail(p.stderr.String(), 6000))
		}
	})
	return p
}

// startServer runs the binary on the given loopback host with a fresh
// root, waits until it prints its listening addresses, and stops it with
// SIGTERM when the test ends, expecting a clean exit.
func startServer(t *testing.T, host string, extra ...string) *itServer {
	t.Helper()
	bin := ftpgateBinary(t)
	s := &itServer{root: t.TempDir()}
	args := []string{"serve",
		"--listen", net.JoinHostPort(host, "0"),
		"--root", s.root,
		"--user", itUser + ":" + itPassword,
		"--tls-implicit-listen", net.JoinHostPort(host, "0"),
		"--log-level", "debug",
	}
	s.serveProc = startServeProc(t, exec.Command(bin, append(args, extra...)...), true, func(line string) bool {
		m := listeningLine.FindStringSubmatch(line)
		switch {
		case m == nil:
		case m[1] == "listening on":
			s.addr = m[2]
		default:
			s.implicit = m[2]
		}
		return s.addr != "" && s.implicit != ""
	})
	s.proc = s.cmd.Process
	return s
}

// url returns an ftp:// or ftps:// URL for a path on the server.
func (s *itServer) url(scheme, p string) string {
	addr := s.addr
	if scheme == "ftps" {
		addr = s.implicit
	}
	return scheme + "://" + addr + "/" + strings.TrimPrefix(p, "/")
}

// hostPort splits the control address for clients that take them apart.
func (s *itServer) hostPort() (string, string) {
	h, p, _ := net.SplitHostPort(s.addr)
	return h, p
}

// runClient runs a client command and fails the test with its output on error.
func runClient(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
	case <-time.After(itTimeout):
		_ = cmd.Process.Kill()
		t.Fatalf("%s %s: timed out\n%s", name, strings.Join(args, " "), out.String())
	}
	return out.String()
}

// writeFile writes n deterministic bytes and returns their sha256.
func writeFile(t *testing.T, path string, n int, seed string) [32]byte {
	t.Helper()
	block := sha256.Sum256([]byte(seed))
	data := bytes.Repeat(block[:], n/32+1)[:n]
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// sameFile fails the test unless path holds bytes with the given sha256.
func sameFile(t *testing.T, path string, want [32]byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != want {
		t.Fatalf("%s: %d bytes with a different sha256", path, len(got))
	}
}

// ipv6Loopback reports whether [::1] can be listened on here.
func ipv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

func TestIntegrationCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	srv := startServer(t, "127.0.0.1")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 5<<20+123, "curl")
	auth := itUser + ":" + itPassword

	modes := []struct {
		name  string
		flags []string
	}{
		{"epsv", nil},
		{"pasv", []string{"--disable-epsv"}},
		{"eprt", []string{"--ftp-port", "-"}},
		{"port", []string{"--ftp-port", "-", "--disable-eprt"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			name := "curl-" + m.name + ".bin"
			runClient(t, curl, append([]string{"-sS", "-u", auth, "-T", src, srv.url("ftp", name)}, m.flags...)...)
			sameFile(t, filepath.Join(srv.root, name), sum)
			out := filepath.Join(local, name)
			runClient(t, curl, append([]string{"-sS", "-u", auth, "-o", out, srv.url("ftp", name)}, m.flags...)...)
			sameFile(t, out, sum)
		})
	}

	t.Run("explicit-tls", func(t *testing.T) {
		runClient(t, curl, "-sS", "-k", "--ssl-reqd", "-u", auth, "-T", src, srv.url("ftp", "curl-tls.bin"))
		sameFile(t, filepath.Join(srv.root, "curl-tls.bin"), sum)
		out := filepath.Join(local, "curl-tls.bin")
		runClient(t, curl, "-sS", "-k", "--ssl-reqd", "-u", auth, "-o", out, srv.url("ftp", "curl-tls.bin"))
		sameFile(t, out, sum)
	})

	t.Run("implicit-tls", func(t *testing.T) {
		runClient(t, curl, "-sS", "-k", "-u", auth, "-T", src, srv.url("ftps", "curl-implicit.bin"))
		sameFile(t, filepath.Join(srv.root, "curl-implicit.bin"), sum)
		out := filepath.Join(local, "curl-implicit.bin")
		runClient(t, curl, "-sS", "-k", "-u", auth, "-o", out, srv.url("ftps", "curl-implicit.bin"))
		sameFile(t, out, sum)
	})

	t.Run("resume-download", func(t *testing.T) {
		full, _ := os.ReadFile(src)
		if err := os.WriteFile(filepath.Join(srv.root, "resume.bin"), full, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(local, "resume.bin")
		if err := os.WriteFile(out, full[:1<<20], 0o644); err != nil {
			t.Fatal(err)
		}
		runClient(t, curl, "-sS", "-u", auth, "-C", "-", "-o", out, srv.url("ftp", "resume.bin"))
		sameFile(t, out, sum)
	})

	t.Run("rename-and-delete", func(t *testing.T) {
		writeFile(t, filepath.Join(srv.root, "old.txt"), 10, "x")
		runClient(t, curl, "-sS", "-u", auth, "-Q", "RNFR old.txt", "-Q", "RNTO new.txt", srv.url("ftp", "/"))
		if _, err := os.Stat(filepath.Join(srv.root, "new.txt")); err != nil {
			t.Fatalf("rename: %v", err)
		}
		runClient(t, curl, "-sS", "-u", auth, "-Q", "DELE new.txt", srv.url("ftp", "/"))
		if _, err := os.Stat(filepath.Join(srv.root, "new.txt")); !os.IsNotExist(err) {
			t.Fatalf("delete: file still there (%v)", err)
		}
	})

	t.Run("listing", func(t *testing.T) {
		out := runClient(t, curl, "-sS", "-u", auth, srv.url("ftp", "/"))
		if !strings.Contains(out, "curl-epsv.bin") || !strings.Contains(out, "-rw-") {
			t.Fatalf("LIST output:\n%s", out)
		}
		names := runClient(t, curl, "-sS", "-u", auth, "--list-only", srv.url("ftp", "/"))
		if !strings.Contains(names, "curl-pasv.bin\r\n") && !strings.Contains(names, "curl-pasv.bin\n") {
			t.Fatalf("NLST output:\n%s", names)
		}
	})

	t.Run("wrong-password", func(t *testing.T) {
		cmd := exec.Command(curl, "-sS", "-u", itUser+":wrong", srv.url("ftp", "/"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "530") {
			t.Fatalf("login with a wrong password: err %v, output %s", err, out)
		}
	})

	t.Run("ipv6", func(t *testing.T) {
		if !ipv6Loopback() {
			t.Skip("no IPv6 loopback")
		}
		srv6 := startServer(t, "::1")
		for _, m := range []struct {
			name  string
			flags []string
		}{{"epsv", nil}, {"eprt", []string{"--ftp-port", "-"}}} {
			name := "curl6-" + m.name + ".bin"
			runClient(t, curl, append([]string{"-sS", "-g", "-u", auth, "-T", src, srv6.url("ftp", name)}, m.flags...)...)
			sameFile(t, filepath.Join(srv6.root, name), sum)
			out := filepath.Join(local, name)
			runClient(t, curl, append([]string{"-sS", "-g", "-u", auth, "-o", out, srv6.url("ftp", name)}, m.flags...)...)
			sameFile(t, out, sum)
		}
	})
}

// lftpScript runs lftp commands against the server.
func lftpScript(t *testing.T, lftp string, srv *itServer, tls bool, commands ...string) string {
	t.Helper()
	settings := []string{
		"set net:max-retries 1", "set net:timeout 15", "set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes",
	}
	if tls {
		settings = append(settings, "set ftp:ssl-force yes", "set ftp:ssl-protect-data yes",
			"set ssl:verify-certificate no")
	} else {
		settings = append(settings, "set ftp:ssl-allow no")
	}
	host, port := srv.hostPort()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	script := strings.Join(settings, "; ") + "; " +
		fmt.Sprintf("open -u %s,%s -p %s ftp://%s; ", itUser, itPassword, port, host) +
		strings.Join(commands, "; ") + "; bye"
	return runClient(t, lftp, "-c", script)
}

func TestIntegrationLftp(t *testing.T) {
	lftp := requireTool(t, "lftp")
	srv := startServer(t, "127.0.0.1")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 4<<20+77, "lftp")

	t.Run("put-get", func(t *testing.T) {
		out := filepath.Join(local, "back.bin")
		lftpScript(t, lftp, srv, false, "put "+src+" -o lftp.bin", "get lftp.bin -o "+out)
		sameFile(t, filepath.Join(srv.root, "lftp.bin"), sum)
		sameFile(t, out, sum)
	})

	t.Run("tls", func(t *testing.T) {
		out := filepath.Join(local, "back-tls.bin")
		lftpScript(t, lftp, srv, true, "put "+src+" -o lftp-tls.bin", "get lftp-tls.bin -o "+out)
		sameFile(t, filepath.Join(srv.root, "lftp-tls.bin"), sum)
		sameFile(t, out, sum)
	})

	t.Run("resume-both-ways", func(t *testing.T) {
		full, _ := os.ReadFile(src)
		// Download: a partial local copy is completed with REST + RETR.
		if err := os.WriteFile(filepath.Join(srv.root, "r.bin"), full, 0o644); err != nil {
			t.Fatal(err)
		}
		part := filepath.Join(local, "r.bin")
		if err := os.WriteFile(part, full[:123457], 0o644); err != nil {
			t.Fatal(err)
		}
		lftpScript(t, lftp, srv, false, "get -c r.bin -o "+part)
		sameFile(t, part, sum)
		// Upload: a partial remote copy is completed with REST + STOR.
		if err := os.WriteFile(filepath.Join(srv.root, "u.bin"), full[:654321], 0o644); err != nil {
			t.Fatal(err)
		}
		lftpScript(t, lftp, srv, false, "put -c "+src+" -o u.bin")
		sameFile(t, filepath.Join(srv.root, "u.bin"), sum)
	})

	t.Run("mirror-mlsd-rename-delete", func(t *testing.T) {
		tree := filepath.Join(local, "tree")
		if err := os.MkdirAll(filepath.Join(tree, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		s1 := writeFile(t, filepath.Join(tree, "a", "b", "deep.bin"), 70000, "deep")
		s2 := writeFile(t, filepath.Join(tree, "top.txt"), 10, "top")
		lftpScript(t, lftp, srv, false, "mirror --reverse "+tree+" mirrored")
		sameFile(t, filepath.Join(srv.root, "mirrored", "a", "b", "deep.bin"), s1)
		sameFile(t, filepath.Join(srv.root, "mirrored", "top.txt"), s2)

		back := filepath.Join(local, "back-tree")
		lftpScript(t, lftp, srv, false, "mirror mirrored "+back)
		sameFile(t, filepath.Join(back, "a", "b", "deep.bin"), s1)

		out := lftpScript(t, lftp, srv, false, "cls -l mirrored")
		if !strings.Contains(out, "top.txt") {
			t.Fatalf("cls (MLSD) output:\n%s", out)
		}
		lftpScript(t, lftp, srv, false, "mv mirrored/top.txt mirrored/moved.txt", "rm mirrored/a/b/deep.bin",
			"rmdir mirrored/a/b", "mkdir mirrored/new")
		if _, err := os.Stat(filepath.Join(srv.root, "mirrored", "moved.txt")); err != nil {
			t.Fatalf("mv: %v", err)
		}
		if _, err := os.Stat(filepath.Join(srv.root, "mirrored", "a", "b")); !os.IsNotExist(err) {
			t.Fatalf("rm/rmdir: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(srv.root, "mirrored", "new")); err != nil || !fi.IsDir() {
			t.Fatalf("mkdir: %v", err)
		}
	})
}

func TestIntegrationPythonFtplib(t *testing.T) {
	python := requireTool(t, "python3")
	script, err := filepath.Abs(filepath.Join("testdata", "ftplib_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1")
	host, port := srv.hostPort()
	_, iport, _ := net.SplitHostPort(srv.implicit)

	// A big sparse file gives ABOR something to interrupt.
	big, err := os.Create(filepath.Join(srv.root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	_ = big.Close()

	for _, sc := range []struct{ name, port string }{
		{"plain", port}, {"active", port}, {"abort", port},
		{"explicit-tls", port}, {"implicit-tls", iport},
	} {
		t.Run(sc.name, func(t *testing.T) {
			out := runClient(t, python, script, sc.name, host, sc.port, itUser, itPassword)
			if !strings.Contains(out, "ok ") {
				t.Fatalf("no steps reported:\n%s", out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(srv.root, "py-tls.bin")); err != nil {
		t.Errorf("TLS upload not on disk: %v", err)
	}

	t.Run("ipv6", func(t *testing.T) {
		if !ipv6Loopback() {
			t.Skip("no IPv6 loopback")
		}
		srv6 := startServer(t, "::1")
		_, port6 := srv6.hostPort()
		// Over IPv6, ftplib uses EPSV for passive and EPRT for active mode.
		runClient(t, python, script, "plain", "::1", port6, itUser, itPassword)
		runClient(t, python, script, "active", "::1", port6, itUser, itPassword)
	})
}
