package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
)

func TestProxyFlagErrorsExitTwo(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--proxy-protocol", "sometimes"}, "want off, optional or required"},
		{[]string{"--proxy-protocol", "required"}, "--proxy-trusted: missing"},
		{[]string{"--proxy-protocol", "required", "--proxy-trusted", "10.0.0.0/33"}, "want a CIDR prefix or an address"},
		{[]string{"--proxy-protocol", "optional", "--proxy-trusted", "10.0.0.1", "--proxy-untrusted", "believe"}, "want reject or ignore"},
		{[]string{"--proxy-trusted", "10.0.0.1"}, "need --proxy-protocol optional or required"},
		{[]string{"--proxy-protocol", "required", "--proxy-trusted", "10.0.0.1", "--proxy-header-timeout", "-1s"}, "--proxy-header-timeout: -1s: want a duration from 0"},
		{[]string{"--proxy-protocol", "required", "--proxy-trusted", "10.0.0.1", "--proxy-pasv-host", "10.0.0.0/8=::1"}, "only advertise an IPv4"},
		{[]string{"--proxy-protocol", "required", "--proxy-trusted", "10.0.0.1", "--proxy-protocol-data", "maybe"}, "flag -proxy-protocol-data: PROXY protocol mode"},
		{[]string{"--proxy-protocol-implicit-tls", "required"}, "--proxy-trusted: missing"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"serve", "--root", root}, tc.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.msg)
		}
	}
}

func TestProxyFlagsFillConfig(t *testing.T) {
	cfg, err := parseServeFlags([]string{"--proxy-protocol", "required", "--proxy-trusted", "10.0.0.0/8",
		"--proxy-trusted", "192.0.2.7", "--proxy-untrusted", "ignore", "--proxy-header-timeout", "2s",
		"--proxy-pasv-host", "10.0.0.0/8=10.1.2.3"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.ProxyProtocol
	if p.Mode != proxyproto.Required || strings.Join(p.Trusted, " ") != "10.0.0.0/8 192.0.2.7" ||
		p.Untrusted != proxyproto.Ignore || p.HeaderTimeout != conf.Duration(2*time.Second) || len(p.PassiveHosts) != 1 {
		t.Fatalf("config %+v", p)
	}
	def, err := parseServeFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if def.ProxyProtocol.Mode != proxyproto.Off || def.ProxyProtocol.Untrusted != proxyproto.Reject {
		t.Fatalf("defaults %+v: want off and reject", def.ProxyProtocol)
	}
}

func TestServeBehindProxyHeader(t *testing.T) {
	rs := startServe(t, "--root", t.TempDir(), "--user", "u:p",
		"--proxy-protocol", "required", "--proxy-trusted", "127.0.0.1")
	c := dialFTPWithHeader(t, rs.addr, "PROXY TCP4 192.0.2.10 203.0.113.9 40000 21\r\n")
	c.expect(331, "USER u")
	c.expect(230, "PASS p")
	// With no --public-host, PASV advertises the balancer address the
	// client reached, from the header.
	if msg := c.expect(227, "PASV"); !strings.Contains(msg, "(203,0,113,9,") {
		t.Fatalf("PASV %q: want the header's destination", msg)
	}

	// A connection without the header is dropped before the banner.
	expectDroppedWithoutHeader(t, rs.addr, "USER u")
}

// TestServeConfigProxyProtocol: the server file's [proxy_protocol]
// section turns the PROXY protocol on for `serve --config`: the tenant
// login sees the client of the header, and a bare connection is dropped.
func TestServeConfigProxyProtocol(t *testing.T) {
	s := startTenantServer(t, "[proxy_protocol]\nmode = \"required\"\ntrusted = [\"127.0.0.1/32\"]\n")
	c := dialFTPWithHeader(t, s.addr, "PROXY TCP4 192.0.2.10 203.0.113.9 40000 21\r\n")
	c.expect(331, "USER alice@acme")
	c.expect(230, "PASS acme-pw")
	if msg := c.expect(211, "STAT"); !strings.Contains(msg, "192.0.2.10") {
		t.Fatalf("STAT %q: want the client address of the header", msg)
	}

	expectDroppedWithoutHeader(t, s.addr, "USER alice@acme")
}

// TestProxyModePerListener: the control listener requires headers while
// the passive data listeners take none (a balancer that forwards only the
// control port with send-proxy), so a bare data connection still carries
// the file; and the reverse, where a bare control connection is served.
func TestProxyModePerListener(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.txt"), []byte("per-listener"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := startServe(t, "--root", root, "--user", "u:p", "--proxy-protocol", "required",
		"--proxy-protocol-data", "off", "--proxy-trusted", "127.0.0.1")
	c := dialFTPWithHeader(t, rs.addr, "PROXY TCP4 127.0.0.1 127.0.0.1 40000 21\r\n")
	c.expect(331, "USER u")
	c.expect(230, "PASS p")
	msg := c.expect(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		t.Fatalf("EPSV reply %q", msg)
	}
	data, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", msg[i+4:j]), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = data.SetDeadline(time.Now().Add(30 * time.Second))
	c.expect(150, "RETR f.txt")
	got, err := io.ReadAll(data)
	if err != nil || string(got) != "per-listener" {
		t.Fatalf("RETR over a bare data connection: %q %v", got, err)
	}
	c.expect(226, "")

	bare := startServe(t, "--root", root, "--user", "u:p", "--proxy-protocol", "off",
		"--proxy-protocol-data", "required", "--proxy-trusted", "127.0.0.1")
	b := dialFTP(t, bare.addr) // no header on control: served
	b.expect(331, "USER u")
	b.expect(230, "PASS p")
}

// TestServeConfigProxyProtocolOff: a server file that lists trusted
// balancers with the protocol off (as the shipped example does) serves
// plain connections.
func TestServeConfigProxyProtocolOff(t *testing.T) {
	s := startTenantServer(t, "[proxy_protocol]\nmode = \"off\"\ntrusted = [\"127.0.0.1/32\"]\n")
	c := dialFTP(t, s.addr)
	c.expect(331, "USER alice@acme")
	c.expect(230, "PASS acme-pw")
}

// dialFTPWithHeader connects, sends a PROXY header (none when empty)
// and reads the banner.
func dialFTPWithHeader(t *testing.T, addr, header string) *ftpConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &ftpConn{t, textproto.NewConn(nc)}
	t.Cleanup(func() { _ = c.Close() })
	if header != "" {
		fmt.Fprint(nc, header)
	}
	c.expect(220, "")
	return c
}

// expectDroppedWithoutHeader checks that a connection sending line
// without a PROXY header is dropped before any reply.
func expectDroppedWithoutHeader(t *testing.T, addr, line string) {
	t.Helper()
	bare, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	_ = bare.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(bare, "%s\r\n", line)
	if n, _ := bare.Read(make([]byte, 64)); n != 0 {
		t.Fatal("a connection without a PROXY header got a reply")
	}
}
