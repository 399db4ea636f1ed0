package telemetry

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// timeout bounds every wait of these tests; never a synchronisation.
const timeout = 20 * time.Second

// startServer starts a telemetry listener on 127.0.0.1 until the test
// ends.
func startServer(t *testing.T, cfg Config, opts Options) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.MaxTenantLabels == 0 {
		cfg.MaxTenantLabels = DefaultMaxTenantLabels
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := Start(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return s
}

// do sends req and returns the status and body.
func do(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, &http.Client{Timeout: timeout}, req)
}

// TestEndpoints: /livez is 200; /readyz follows Ready, with its reason
// in a 503; /metrics serves the registry in the text format; other paths
// are 404 and other methods 405.
func TestEndpoints(t *testing.T) {
	var notReady atomic.Pointer[error]
	reason := errors.New("restoring the stored policies")
	notReady.Store(&reason)
	s := startServer(t, Config{}, Options{
		Ready: func() error {
			if p := notReady.Load(); p != nil {
				return *p
			}
			return nil
		},
		Metrics: NewMetrics(MetricsOptions{Version: "v9.9.9"}),
	})
	u := s.URL()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/livez", 200, "ok\n"},
		{"/readyz", 503, "not ready: restoring the stored policies\n"},
		{"/nothing", 404, "not found\n"},
		{"/livez/", 404, "not found\n"},
	} {
		if code, body := get(t, u+tc.path, ""); code != tc.code || body != tc.body {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	notReady.Store(nil)
	if code, body := get(t, u+"/readyz", ""); code != 200 || body != "ready\n" {
		t.Errorf("GET /readyz when ready: %d %q", code, body)
	}
	code, body := get(t, u+"/metrics", "")
	if code != 200 || !strings.Contains(body, `ftpgate_build_info{goversion="go`) || !strings.Contains(body, `version="v9.9.9"} 1`) ||
		!strings.Contains(body, "go_goroutines ") || !strings.Contains(body, "process_open_fds ") {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u+"/livez", strings.NewReader("x"))
	if code, _ := do(t, http.DefaultClient, req); code != 405 {
		t.Errorf("POST /livez: %d, want 405", code)
	}
}

// TestMetricsToken: with token_file, /metrics wants the bearer token
// (401 without it or with another), /livez and /readyz do not.
func TestMetricsToken(t *testing.T) {
	tok := "0123456789abcdef-token"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{TokenFile: file}, Options{Metrics: NewMetrics(MetricsOptions{})})
	for _, try := range []string{"", "0123456789abcdef-tokem", tok + "x"} {
		if code, _ := get(t, s.URL()+"/metrics", try); code != 401 {
			t.Errorf("/metrics with token %q: %d, want 401", try, code)
		}
	}
	if code, body := get(t, s.URL()+"/metrics", tok); code != 200 || !strings.Contains(body, "ftpgate_build_info") {
		t.Errorf("/metrics with the token: %d %.200q", code, body)
	}
	for _, p := range []string{"/livez", "/readyz"} {
		if code, _ := get(t, s.URL()+p, ""); code != 200 {
			t.Errorf("%s without a token: %d", p, code)
		}
	}
}

// TestTLS: with tls_cert and tls_key the listener speaks HTTPS only.
func TestTLS(t *testing.T) {
	cert, err := conf.SelfSigned(time.Now(), "telemetry test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{TLSCert: certFile, TLSKey: keyFile}, Options{})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %q", s.URL())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/livez", nil)
	if code, _ := do(t, client, req); code != 200 {
		t.Fatalf("GET /livez over TLS: %d", code)
	}
	if code, _ := get(t, "http://"+strings.TrimPrefix(s.URL(), "https://")+"/livez", ""); code != 400 {
		t.Fatalf("plain HTTP to the TLS listener: %d, want 400", code)
	}
}

// TestBounds: a request whose headers pass the cap gets 431; connections
// beyond MaxConns that sit quiet are shed, so a scrape still gets in.
func TestBounds(t *testing.T) {
	s := startServer(t, Config{}, Options{})
	addr := strings.TrimPrefix(s.URL(), "http://")
	// net/http reads up to 4 KiB past MaxHeaderBytes before it refuses.
	big, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = big.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(big, "GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: %s", strings.Repeat("a", maxHeaderBytes+4096))
	if line, err := bufio.NewReader(big).ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 431") {
		t.Errorf("oversized headers: %q, %v; want 431", line, err)
	}
	_ = big.Close()

	quiet := make([]net.Conn, 0, MaxConns+4)
	for range MaxConns + 4 {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			t.Fatal(err)
		}
		quiet = append(quiet, c)
	}
	defer func() {
		for _, c := range quiet {
			_ = c.Close()
		}
	}()
	// A fresh connection is still served: the quiet ones make room.
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("a request past %d quiet connections: %q, %v", MaxConns, line, err)
	}
}

// TestConfigValidate: the listen address leaves loopback only with TLS
// or a token.
func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "t")
	if err := os.WriteFile(tok, []byte(strings.Repeat("x", MinToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c  Config
		ok bool
	}{
		{Default(), true},
		{Config{Listen: "127.0.0.1:9121", MaxTenantLabels: 1}, true},
		{Config{Listen: "[::1]:9121", MaxTenantLabels: 1}, true},
		{Config{Listen: "localhost:9121", MaxTenantLabels: 1}, true},
		{Config{Listen: "0.0.0.0:9121", MaxTenantLabels: 1}, false},
		{Config{Listen: ":9121", MaxTenantLabels: 1}, false},
		{Config{Listen: "192.0.2.1:9121", TokenFile: tok, MaxTenantLabels: 1}, true},
		{Config{Listen: "192.0.2.1:9121", TLSCert: "c", TLSKey: "k", MaxTenantLabels: 1}, true},
		{Config{Listen: "127.0.0.1:9121", MaxTenantLabels: 10001}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

// TestBodyHoldsNoSlot: a request that announces a body and never sends
// it is refused at once, its connection closed, instead of holding a
// slot until the read timeout while net/http waits to discard the body
// (a connection past its headers is never shed): MaxConns of them would
// otherwise keep the balancer's health checks out. "OPTIONS *", which
// net/http would answer itself after reading up to 4 KiB of body, is
// refused the same way (405).
func TestBodyHoldsNoSlot(t *testing.T) {
	s := startServer(t, Config{}, Options{})
	addr := strings.TrimPrefix(s.URL(), "http://")
	held := make([]net.Conn, 0, MaxConns)
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for i := range MaxConns {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		_ = c.SetDeadline(time.Now().Add(timeout))
		te := "Content-Length: 100"
		if i%2 == 1 {
			te = "Transfer-Encoding: chunked"
		}
		target := "GET /livez"
		if i%3 == 2 {
			target = "OPTIONS *"
		}
		fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", target, te)
	}
	if code, body := get(t, s.URL()+"/readyz", ""); code != 200 {
		t.Fatalf("/readyz beside %d requests waiting for their bodies: %d %q", MaxConns, code, body)
	}
	for i, c := range held {
		b, err := io.ReadAll(c)
		want := "HTTP/1.1 413"
		if i%3 == 2 {
			want = "HTTP/1.1 405"
		}
		if !strings.HasPrefix(string(b), want) || err != nil {
			t.Fatalf("request %d with an unsent body: %q, %v; want %s and the connection closed", i, b, err, want)
		}
	}
}
