package main

import (
	"bufio"
	"bytes"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// haSession is a control connection through HAProxy from haClient,
// logged in, with the instance it reached.
type haSession struct {
	*ftpConn
	nc       net.Conn
	instance string // "a" or "b", from the passive port its EPSV offered
	port     string // that port, on HAProxy's address
}

// dialHA logs in through the balancer at front and asks for a passive
// port, whose range tells which instance the session reached.
func dialHA(t *testing.T, front string, ports haPorts) *haSession {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(haClient)}}
	nc, err := d.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(2 * itTimeout))
	s := &haSession{ftpConn: &ftpConn{t, textproto.NewConn(nc)}, nc: nc}
	s.expect(220, "")
	s.expect(331, "USER "+itUser)
	s.expect(230, "PASS "+itPassword)
	s.expect(200, "TYPE I")
	msg := s.expect(229, "EPSV")
	s.port = msg[strings.Index(msg, "|||")+3 : strings.LastIndex(msg, "|")]
	p, err := strconv.Atoi(s.port)
	switch {
	case err != nil:
		t.Fatalf("EPSV: %q", msg)
	case p >= ports.base && p < ports.base+10:
		s.instance = "a"
	case p >= ports.base+10 && p < ports.base+20:
		s.instance = "b"
	default:
		t.Fatalf("EPSV port %d is in neither instance's range", p)
	}
	return s
}

// startUpload opens the data connection and sends STOR name; the caller
// writes the bytes and calls finishUpload.
func (s *haSession) startUpload(name string) net.Conn {
	s.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(haClient)}}
	data, err := d.Dial("tcp", net.JoinHostPort(haBalancer, s.port))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = data.Close() })
	_ = data.SetDeadline(time.Now().Add(2 * itTimeout))
	s.expect(150, "STOR "+name)
	return data
}

// finishUpload closes the data connection and expects 226: the upload is
// acknowledged.
func (s *haSession) finishUpload(data net.Conn) {
	s.t.Helper()
	if err := data.Close(); err != nil {
		s.t.Fatal(err)
	}
	s.expect(226, "")
}

// TestIntegrationHAProxyDrain stops one of two instances behind HAProxy
// (examples/haproxy/haproxy.cfg, which checks /readyz) with SIGTERM while
// an upload runs on it: HAProxy sends new sessions to the other instance
// while the stopping one still accepts (its drain grace), the running
// upload completes with 226 after the listeners closed, and every
// acknowledged upload, on either instance, is on disk whole.
func TestIntegrationHAProxyDrain(t *testing.T) {
	haproxy := requireHAProxy(t)
	ports := pickHAPorts(t)
	root := t.TempDir() // shared by both instances, as shared storage would be
	// A grace far longer than HAProxy needs (inter 1s, fall 2), so that
	// the test sees the move within it; the test cuts it short itself.
	a := startHAInstance(t, ports, root, haA, ports.base, "--drain-grace", "5m", "--shutdown-timeout", "5m")
	startHAInstance(t, ports, root, haB, ports.base+10, "--drain-grace", "0s")
	haLog := startHAProxy(t, haproxy, haproxyConfig(t, ports), ports.control)
	defer func() {
		if t.Failed() {
			t.Logf("haproxy log:\n%s", haLog)
		}
	}()
	front := net.JoinHostPort(haBalancer, strconv.Itoa(ports.control))

	// acked holds every upload that got its 226, to check on disk at the end.
	acked := map[string][]byte{}
	upload := func(s *haSession, name string) {
		body := bytes.Repeat([]byte(name+"\n"), 4096)
		data := s.startUpload(name)
		if _, err := data.Write(body); err != nil {
			t.Fatal(err)
		}
		s.finishUpload(data)
		acked[name] = body
	}

	// The upload that runs across the stop: on instance a (round robin
	// sends one of two sessions there), half its bytes sent.
	var running *haSession
	for range 4 {
		if s := dialHA(t, front, ports); s.instance == "a" {
			running = s
			break
		}
	}
	if running == nil {
		t.Fatal("four sessions in a row through HAProxy missed instance a")
	}
	runningBody := bytes.Repeat([]byte("across the stop\n"), 1<<16) // 1 MiB
	runningData := running.startUpload("running.bin")
	half := len(runningBody) / 2
	if _, err := runningData.Write(runningBody[:half]); err != nil {
		t.Fatal(err)
	}

	if err := a.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, a, 503)

	// New sessions move to b once HAProxy's check has seen /readyz fail:
	// four in a row on b, which round robin over two healthy instances
	// never gives. Each uploads a file; those that still reached a (before
	// HAProxy noticed) are served in full by it.
	// A bounded poll: HAProxy's check runs on its own clock (every
	// second).
	deadline := time.Now().Add(itTimeout)
	for i, onB := 0, 0; onB < 4; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("new sessions kept reaching the draining instance a")
		}
		s := dialHA(t, front, ports)
		upload(s, "during-"+strconv.Itoa(i)+"-"+s.instance+".bin")
		s.expect(221, "QUIT")
		if s.instance == "b" {
			onB++
		} else {
			onB = 0
			<-time.After(100 * time.Millisecond)
		}
	}
	// Meanwhile a still accepts (the grace), as a client straight to it
	// from a peer that is not the balancer sees.
	if !bannerFrom(haClient, a.addr) {
		t.Fatal("instance a refused a connection during its drain grace")
	}

	// A second SIGTERM ends the grace: a's listeners close, and the
	// running upload goes on.
	if err := a.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, "instance a", a.stderr, "drain grace cut short")
	deadline = time.Now().Add(itTimeout)
	for bannerFrom(haClient, a.addr) {
		if time.Now().After(deadline) {
			t.Fatal("instance a still accepts after its grace")
		}
		<-time.After(20 * time.Millisecond)
	}
	select {
	case <-a.done:
		t.Fatalf("instance a exited with an upload running: %v", a.exitErr)
	default:
	}
	if _, err := runningData.Write(runningBody[half:]); err != nil {
		t.Fatal(err)
	}
	running.finishUpload(runningData)
	acked["running.bin"] = runningBody
	select {
	case <-a.done:
		if a.exitErr != nil {
			t.Fatalf("instance a: %v", a.exitErr)
		}
	case <-time.After(itTimeout):
		t.Fatal("instance a did not exit once its last transfer ended")
	}

	// After a is gone, sessions still get through, to b.
	s := dialHA(t, front, ports)
	upload(s, "after.bin")
	if s.instance != "b" {
		t.Fatalf("a session after the stop reached instance %s", s.instance)
	}

	for name, want := range acked {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("acknowledged upload %s: %d bytes on disk (%v), want %d", name, len(got), err, len(want))
		}
	}
}

// bannerFrom reports whether a 220 comes through addr to a connection
// from the local address from.
func bannerFrom(from, addr string) bool {
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220")
}
