package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The HAProxy integration test runs Debian's haproxy with the shipped
// examples/haproxy/haproxy.cfg (its ports swapped for free ones) in front
// of two ftpgate instances on loopback, and drives it with curl and
// Python's ftplib from 127.0.0.2, while HAProxy connects to the instances
// from 127.0.0.1. The servers must see 127.0.0.2 everywhere.

const (
	haClient   = "127.0.0.2" // the FTP clients' source address
	haBalancer = "127.0.0.1" // HAProxy's frontends, and its source address towards the instances
	haA, haB   = "127.0.0.3", "127.0.0.4"
)

// requireHAProxy returns the haproxy binary, which Debian installs in
// /usr/sbin (not on every PATH); like requireTool it fails under
// FTPGATE_INTEGRATION=1 and skips otherwise.
func requireHAProxy(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return requireTool(t, "haproxy")
}

// haPorts are the ports the test rewrites the example's with.
type haPorts struct {
	control   int // on the balancer and on each instance, as in the example
	base      int // passive ports base..base+9 for a, base+10..base+19 for b
	telemetry int // each instance's telemetry listener (/readyz)
}

// portFree reports whether host:port can be bound now.
func portFree(host string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// pickHAPorts finds ports below Linux's ephemeral range (32768 and up), so
// that no client socket of a concurrent test takes them before use.
func pickHAPorts(t *testing.T) haPorts {
	t.Helper()
	for range 200 {
		p := haPorts{control: 20000 + rand.IntN(12000), base: 20000 + rand.IntN(12000-20), telemetry: 20000 + rand.IntN(12000)}
		ok := (p.control < p.base || p.control >= p.base+20) && p.telemetry != p.control && (p.telemetry < p.base || p.telemetry >= p.base+20)
		for _, h := range []string{haBalancer, haA, haB} {
			ok = ok && portFree(h, p.control)
		}
		ok = ok && portFree(haA, p.telemetry) && portFree(haB, p.telemetry)
		for i := 0; i < 20 && ok; i++ {
			inst := haA
			if i >= 10 {
				inst = haB
			}
			ok = portFree(haBalancer, p.base+i) && portFree(inst, p.base+i)
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports for HAProxy and the instances")
	return haPorts{}
}

// haproxyConfig returns examples/haproxy/haproxy.cfg with its ports
// replaced, failing when the example no longer has the layout the test
// drives.
func haproxyConfig(t *testing.T, p haPorts) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "haproxy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	replace := [][2]string{
		{"bind 127.0.0.1:2121", fmt.Sprintf("bind %s:%d", haBalancer, p.control)},
		{"option httpchk GET /readyz\n", "option httpchk GET /readyz\n"},
		{"server ftpgate-a 127.0.0.3:2121 send-proxy-v2 check port 9100\n", fmt.Sprintf("server ftpgate-a %s:%d send-proxy-v2 check port %d\n", haA, p.control, p.telemetry)},
		{"server ftpgate-b 127.0.0.4:2121 send-proxy-v2 check port 9100\n", fmt.Sprintf("server ftpgate-b %s:%d send-proxy-v2 check port %d\n", haB, p.control, p.telemetry)},
		{"bind 127.0.0.1:30000-30009", fmt.Sprintf("bind %s:%d-%d", haBalancer, p.base, p.base+9)},
		{"bind 127.0.0.1:30010-30019", fmt.Sprintf("bind %s:%d-%d", haBalancer, p.base+10, p.base+19)},
		{"server ftpgate-a 127.0.0.3 send-proxy-v2", "server ftpgate-a " + haA + " send-proxy-v2"},
		{"server ftpgate-b 127.0.0.4 send-proxy-v2", "server ftpgate-b " + haB + " send-proxy-v2"},
	}
	for _, r := range replace {
		if strings.Count(cfg, r[0]) != 1 {
			t.Fatalf("examples/haproxy/haproxy.cfg: want exactly one %q; update this test with the example", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return cfg
}

// startHAProxy runs haproxy in the foreground until the test ends and
// waits until a banner comes through its control frontend. Any failure
// to start fails the test.
func startHAProxy(t *testing.T, bin, cfg string, control int) *lockedBuffer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("haproxy cannot start: %v", err)
	}
	exited := make(chan struct{}) // closed once haproxy is gone; then waitErr is set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(itTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("haproxy log:\n%s", logs)
		}
	})
	addr := net.JoinHostPort(haBalancer, strconv.Itoa(control))
	deadline := time.Now().Add(itTimeout)
	for {
		select {
		case <-exited:
			t.Fatalf("haproxy exited: %v\n%s", waitErr, logs)
		default:
		}
		if banner(addr) {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no FTP banner through haproxy at %s\n%s", addr, logs)
		}
		// A bounded poll: haproxy has no readiness signal to wait on.
		<-time.After(50 * time.Millisecond)
	}
}

// banner reports whether a 220 comes through addr.
func banner(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220")
}

// waitForLog waits until a process's log holds part. The log comes
// through a pipe that os/exec copies in its own goroutine, so a line the
// process wrote before acting can still be on its way: a bounded poll is
// the only way to wait for it.
func waitForLog(t *testing.T, what string, logs *lockedBuffer, part string) {
	t.Helper()
	deadline := time.Now().Add(itTimeout)
	for !strings.Contains(logs.String(), part) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q:\n%s", what, part, logs)
		}
		<-time.After(20 * time.Millisecond)
	}
}

var loggedInRemote = regexp.MustCompile(`"msg":"ftp: logged in"[^\n]*"remote":"([0-9.]+):\d+"[^\n]*"balancer":"([0-9.]+):\d+"`)

func TestIntegrationHAProxy(t *testing.T) {
	curl := requireTool(t, "curl")
	python := requireTool(t, "python3")
	haproxy := requireHAProxy(t)
	ports := pickHAPorts(t)
	root := t.TempDir() // shared by both instances, as shared storage would be
	a := startHAInstance(t, ports, root, haA, ports.base)
	b := startHAInstance(t, ports, root, haB, ports.base+10)
	haLog := startHAProxy(t, haproxy, haproxyConfig(t, ports), ports.control)

	front := net.JoinHostPort(haBalancer, strconv.Itoa(ports.control))
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 3<<20+17, "haproxy")
	auth := itUser + ":" + itPassword

	// Round robin sends consecutive sessions to a and b in turn, so each
	// mode uploads through one instance and downloads through the other.
	for _, m := range []struct {
		name  string
		flags []string
	}{
		{"epsv", nil},
		{"pasv", []string{"--disable-epsv"}},
	} {
		t.Run("curl-"+m.name, func(t *testing.T) {
			name := "curl-ha-" + m.name + ".bin"
			url := "ftp://" + front + "/" + name
			base := []string{"-sS", "--interface", haClient, "-u", auth}
			runClient(t, curl, append(append(base, "-T", src, url), m.flags...)...)
			sameFile(t, filepath.Join(root, name), sum)
			out := filepath.Join(local, name)
			runClient(t, curl, append(append(base, "-o", out, url), m.flags...)...)
			sameFile(t, out, sum)
		})
	}

	t.Run("ftplib", func(t *testing.T) {
		out := runClient(t, python, filepath.Join("testdata", "ftplib_haproxy.py"),
			haBalancer, strconv.Itoa(ports.control), itUser, itPassword, haClient)
		if !strings.Contains(out, "ok pasv") || !strings.Contains(out, "ok epsv") {
			t.Fatalf("ftplib:\n%s", out)
		}
		if !strings.Contains(out, "Connected to "+haClient+":") {
			t.Fatalf("STAT should name the client %s, not HAProxy:\n%s", haClient, out)
		}
	})

	// ABOR with the Telnet Synch (IAC IP, then IAC DM with DM as TCP
	// urgent data, as RFC 959 4.1.3 asks and lftp sends it): HAProxy does
	// not forward urgent data, so the server reads IAC IP IAC ABOR.
	big := filepath.Join(root, "abor-big.bin")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	t.Run("abor-synch-raw", func(t *testing.T) {
		for range 2 { // round robin: once through each instance
			haAbortWithSynch(t, front, "abor-big.bin")
		}
	})
	t.Run("abor-synch-ftplib", func(t *testing.T) {
		out := runClient(t, python, filepath.Join("testdata", "ftplib_abort_synch.py"),
			haBalancer, strconv.Itoa(ports.control), itUser, itPassword, haClient, "abor-big.bin")
		if strings.Count(out, "ok abort") != 2 {
			t.Fatalf("ftplib:\n%s", out)
		}
	})

	t.Run("servers-saw-the-client", func(t *testing.T) {
		for _, s := range []*itServer{a, b} {
			logs := s.stderr.String()
			matches := loggedInRemote.FindAllStringSubmatch(logs, -1)
			if len(matches) == 0 {
				t.Fatalf("instance %s logged no login with a balancer:\n%s", s.addr, logs)
			}
			for _, m := range matches {
				if m[1] != haClient || m[2] != haBalancer {
					t.Fatalf("instance %s: login from %s via %s, want %s via %s", s.addr, m[1], m[2], haClient, haBalancer)
				}
			}
			if strings.Contains(logs, "refused a passive data connection") {
				t.Fatalf("instance %s refused a data connection:\n%s", s.addr, logs)
			}
		}
	})

	t.Run("forged-header-from-untrusted-address", func(t *testing.T) {
		// Straight to instance a from the client's address, which is not
		// a trusted balancer: the banner comes at once (no header is
		// awaited from it), and the forged header that follows ends the
		// connection.
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(haClient)}}
		conn, err := d.Dial("tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(itTimeout))
		r := bufio.NewReader(conn)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220") {
			t.Fatalf("banner: %q %v", line, err)
		}
		fmt.Fprintf(conn, "PROXY TCP4 203.0.113.66 %s 40000 %d\r\nUSER %s\r\n", haA, ports.control, itUser)
		if line, err := r.ReadString('\n'); err == nil {
			t.Fatalf("a forged header got a reply: %q", line)
		}
		waitForLog(t, "instance a", a.stderr, "PROXY header from an untrusted peer")
		if logs := a.stderr.String(); strings.Contains(logs, "203.0.113.66") {
			t.Fatalf("instance a used the forged address:\n%s", logs)
		}
	})

	if t.Failed() {
		t.Logf("haproxy log:\n%s", haLog)
	}
}

// startHAInstance starts the ftpgate instance on host behind HAProxy,
// with its passive ports from first and its telemetry listener (for
// HAProxy's /readyz check), as the example's README runs them, and waits
// until it is ready.
func startHAInstance(t *testing.T, ports haPorts, root, host string, first int, extra ...string) *itServer {
	t.Helper()
	telemetry := net.JoinHostPort(host, strconv.Itoa(ports.telemetry))
	s := startServer(t, host, append([]string{
		"--listen", net.JoinHostPort(host, strconv.Itoa(ports.control)),
		"--root", root,
		"--passive-ports", fmt.Sprintf("%d-%d", first, first+9),
		"--proxy-protocol", "required",
		"--proxy-trusted", haBalancer,
		"--telemetry-listen", telemetry,
		"--log-format", "json"}, extra...)...)
	s.telemetry = "http://" + telemetry
	waitReadyz(t, s, http.StatusOK)
	return s
}

// waitReadyz polls an instance's /readyz until it answers status: a
// bounded poll, since readiness changes inside the process, which tells
// no one.
func waitReadyz(t *testing.T, s *itServer, status int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(itTimeout)
	last := "no answer"
	for {
		resp, err := client.Get(s.telemetry + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			_ = resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz never answered %d; last: %s", s.telemetry, status, last)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// haAbortWithSynch logs in through the balancer at front from haClient,
// starts a download of name that it does not read (so the transfer is
// still running), and aborts it with IAC IP, IAC DM (DM as urgent data)
// and ABOR: the transfer gets 426, ABOR 226, and the session goes on.
func haAbortWithSynch(t *testing.T, front, name string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(haClient)}}
	nc, err := d.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	// Well below the server's 30 s stall timeout, which would otherwise
	// end a transfer the ABOR failed to stop.
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &ftpConn{t, textproto.NewConn(nc)}
	defer c.Close()
	c.expect(220, "")
	c.expect(331, "USER "+itUser)
	c.expect(230, "PASS "+itPassword)
	c.expect(200, "TYPE I")
	msg := c.expect(229, "EPSV")
	port := msg[strings.Index(msg, "|||")+3 : strings.LastIndex(msg, "|")]
	data, err := d.Dial("tcp", net.JoinHostPort(haBalancer, port))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	c.expect(150, "RETR "+name)
	// The transfer runs: some bytes arrive, and the rest (1 GiB) waits.
	_ = data.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(data, make([]byte, 64<<10)); err != nil {
		t.Fatalf("download before ABOR: %v", err)
	}
	if _, err := nc.Write([]byte{0xff, 0xf4, 0xff}); err != nil { // IAC IP IAC
		t.Fatal(err)
	}
	sendUrgent(t, nc.(*net.TCPConn), 0xf2) // DM, as urgent data
	if err := c.PrintfLine("ABOR"); err != nil {
		t.Fatal(err)
	}
	c.expect(426, "")
	c.expect(226, "")
	c.expect(200, "NOOP")
	c.expect(221, "QUIT")
}

// sendUrgent sends b as TCP urgent data (MSG_OOB) on conn.
func sendUrgent(t *testing.T, conn *net.TCPConn, b byte) {
	t.Helper()
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), []byte{b}, syscall.MSG_OOB, nil)
		return !errors.Is(serr, syscall.EAGAIN)
	})
	if err != nil || serr != nil {
		t.Fatalf("sending urgent data: %v %v", err, serr)
	}
}
