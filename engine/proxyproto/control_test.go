package proxyproto

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	pp "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

func TestHeaderGivesClientAddressToHooksAndLogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		header func(dst string) []byte
		client string
	}{
		{"v1-ipv4", func(dst string) []byte { return v1("192.0.2.10:40000", dst) }, "192.0.2.10:40000"},
		{"v1-ipv6", func(string) []byte { return v1("[2001:db8::7]:40001", "[2001:db8::1]:21") }, "[2001:db8::7]:40001"},
		{"v2-ipv4", func(dst string) []byte { return v2(t, "198.51.100.20:40002", dst) }, "198.51.100.20:40002"},
		{"v2-ipv6", func(string) []byte { return v2(t, "[2001:db8::9]:40003", "[2001:db8::1]:21") }, "[2001:db8::9]:40003"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
			c := dial(t, "127.0.0.1", ts.addr, tc.header(ts.addr))
			c.login()
			c.cmd("NOOP", 200)
			c.cmd("QUIT", 221)
			admitted, commands, proxies := ts.seen.snapshot()
			if len(admitted) != 1 || admitted[0] != tc.client {
				t.Fatalf("admission hook saw %v, want %s", admitted, tc.client)
			}
			for _, cmd := range commands {
				if !strings.HasSuffix(cmd, " "+tc.client) {
					t.Fatalf("command hook saw %q, want the client %s", cmd, tc.client)
				}
			}
			info := proxies[0]
			if info == nil || info.Balancer.String() != c.conn.LocalAddr().String() || info.Source.String() != tc.client {
				t.Fatalf("ProxyInfo %+v: want balancer %s and source %s", info, c.conn.LocalAddr(), tc.client)
			}
			ts.log.mustLog(t, "remote="+tc.client, "balancer="+c.conn.LocalAddr().String())
		})
	}
}

func TestV2TLVsReachClientContext(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	ssl, err := tlvparse.PP2SSL{
		Client: tlvparse.PP2_BITFIELD_CLIENT_SSL | tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN,
		Verify: 0,
		TLV: []pp.TLV{
			{Type: pp.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")},
			{Type: pp.PP2_SUBTYPE_SSL_CIPHER, Value: []byte("TLS_AES_128_GCM_SHA256")},
			{Type: pp.PP2_SUBTYPE_SSL_CN, Value: []byte("alice")},
		},
	}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	header := v2(t, "192.0.2.30:5000", ts.addr,
		pp.TLV{Type: pp.PP2_TYPE_AUTHORITY, Value: []byte("acme.ftp.example")},
		pp.TLV{Type: pp.PP2_TYPE_ALPN, Value: []byte("ftp")},
		ssl,
		pp.TLV{Type: 0xE1, Value: []byte("custom TLVs are skipped")},
	)
	c := dial(t, "127.0.0.1", ts.addr, header)
	c.login()
	_, _, proxies := ts.seen.snapshot()
	got := proxies[0]
	if got == nil || got.Version != 2 || got.Authority != "acme.ftp.example" || got.ALPN != "ftp" ||
		!got.SSL || !got.SSLVerified || got.SSLVersion != "TLSv1.3" || got.SSLCipher != "TLS_AES_128_GCM_SHA256" || got.SSLClientCN != "alice" {
		t.Fatalf("ProxyInfo %+v", got)
	}
	if got.Destination.String() != ts.addr {
		t.Fatalf("destination %v, want %s", got.Destination, ts.addr)
	}
}

func TestTextTLVWithControlCharactersIsDropped(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	header := v2(t, "192.0.2.31:5000", ts.addr, pp.TLV{Type: pp.PP2_TYPE_AUTHORITY, Value: []byte("evil\r\nhost")})
	c := dial(t, "127.0.0.1", ts.addr, header)
	c.login()
	_, _, proxies := ts.seen.snapshot()
	if proxies[0] == nil || proxies[0].Authority != "" || proxies[0].Source.String() != "192.0.2.31:5000" {
		t.Fatalf("ProxyInfo %+v: the authority should be dropped, the header kept", proxies[0])
	}
}

func TestV2LocalIsServedWithBalancerAddress(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v2Local())
	c.expect(220) // what an HAProxy tcp-check expects
	c.cmd("QUIT", 221)
	admitted, _, proxies := ts.seen.snapshot()
	if admitted[0] != c.conn.LocalAddr().String() || proxies[0] == nil || !proxies[0].Local || proxies[0].Source != nil {
		t.Fatalf("LOCAL: admitted %v with %+v; want the balancer's own address", admitted, proxies[0])
	}
	ts.log.mustLog(t, "PROXY LOCAL command")
}

func TestV1UnknownUsesConnectionAddress(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, []byte("PROXY UNKNOWN\r\n"))
	c.login()
	admitted, _, proxies := ts.seen.snapshot()
	if admitted[0] != c.conn.LocalAddr().String() || proxies[0] == nil || proxies[0].Source != nil {
		t.Fatalf("UNKNOWN: admitted %v with %+v", admitted, proxies[0])
	}
}

func TestImplicitTLSAfterHeader(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t)
	ts := startServerTLS(t, "127.0.0.1", trustLoopback(Required), func(st *engine.Settings) {
		st.TLSRequired = engine.ImplicitEncryption
	}, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	raw := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.40:7000", ts.addr))
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	conn := tls.Client(raw.conn, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	c := &client{Conn: enginetest.NewConn(t, conn), t: t, conn: conn}
	c.login()
	admitted, _, _ := ts.seen.snapshot()
	if admitted[0] != "192.0.2.40:7000" {
		t.Fatalf("implicit TLS: admitted %v", admitted)
	}
}

func TestAcceptNeverReads(t *testing.T) {
	t.Parallel()
	w, err := New(trustLoopback(Required), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := w.Wrap(ln)
	defer wl.Close()
	silent := dial(t, "127.0.0.1", ln.Addr().String(), nil)
	_ = silent
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := wl.Accept()
		if err == nil {
			accepted <- conn
		}
	}()
	select {
	case conn := <-accepted:
		// Closing it ends the header read of nobody: Accept read nothing.
		_ = conn.Close()
	case <-timeAfter():
		t.Fatal("Accept waited for a silent client's header")
	}
}

// TestEPSVProtocolIsTheBalancers: behind a balancer that clients reach
// over IPv6 while it reaches us over IPv4, EPSV's protocol numbers follow
// the client's side (the header's destination), not our socket.
func TestEPSVProtocolIsTheBalancers(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v1("[2001:db8::7]:40001", "[2001:db8::1]:21"))
	c.login()
	if msg := c.cmd("EPSV 1", 522); !strings.Contains(msg, "(2)") {
		t.Fatalf("EPSV 1 from an IPv6 client: %q, want 522 naming (2)", msg)
	}
	c.cmd("EPSV 2", 229)

	c4 := dial(t, "127.0.0.1", ts.addr, v1("192.0.2.10:40000", ts.addr))
	c4.login()
	c4.cmd("EPSV 1", 229)
	c4.cmd("EPSV 2", 522)
}
