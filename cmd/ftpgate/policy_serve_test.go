package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/jlaffaye/ftp"
)

var adminAddrLine = regexp.MustCompile(`^ftpgate: admin API on (https?://\S+)$`)

// startServeWithAdmin runs serve in-process and returns the FTP address
// and the admin API's URL; it stops the server when the test ends.
func startServeWithAdmin(t *testing.T, args ...string) (ftpAddr, adminURL string) {
	t.Helper()
	pr, pw := io.Pipe()
	signals := make(chan os.Signal, 1)
	exit := make(chan int, 1)
	go func() {
		base := []string{"--listen", "127.0.0.1:0", "--log-level", "error"}
		if slices.Contains(args, "--config") { // the file sets both
			base = nil
		}
		exit <- serve(context.Background(), append(base, args...), pw, io.Discard, signals)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := adminAddrLine.FindStringSubmatch(sc.Text()); m != nil {
			adminURL = m[1]
		}
		if m := listeningAddr.FindStringSubmatch(sc.Text()); m != nil {
			ftpAddr = m[1]
			break
		}
	}
	if ftpAddr == "" {
		t.Fatalf("serve exited with %d before listening", <-exit)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		signals <- syscall.SIGTERM
		select {
		case <-exit:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return ftpAddr, adminURL
}

func adminDo(t *testing.T, method, url, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServePolicyAdmin: a policy uploaded through the admin API of a
// running `ftpgate serve` rules on the next command of a session that was
// already open, and is restored after a restart.
func TestServePolicyAdmin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root, policies := filepath.Join(dir, "root"), filepath.Join(dir, "policies")
	tokenFile := filepath.Join(dir, "token")
	const token = "operator-token-0123456789"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(exampleWasm)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", root, "--user", "alice:pw", "--policy-dir", policies,
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile}
	ftpAddr, adminURL := startServeWithAdmin(t, args...)
	if adminURL == "" {
		t.Fatal("no admin API line")
	}
	c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/a.txt", "/b.txt"} {
		if err := c.Stor(name, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete("/a.txt"); err != nil {
		t.Fatalf("DELE before the policy: %v", err)
	}
	policyURL := adminURL + "/v1/tenants/default/policy"
	if code, body := adminDo(t, "PUT", policyURL, "wrong-token-wrong-token", wasm); code != 401 {
		t.Fatalf("PUT with a wrong token: %d %s", code, body)
	}
	if code, body := adminDo(t, "PUT", policyURL, token, wasm); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	// The wiring of the admin server: the one tenant is known, a reload
	// re-reads the files the flags name, and unknown paths answer JSON.
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/v1/tenants/other/policy", 404, `{"error":"no such tenant","code":"no_tenant"}`},
		{"POST", "/v1/reload", 200, `{"status":"reloaded"}`},
		{"GET", "/v1/nothing", 404, `{"error":"no such endpoint","code":"not_found"}`},
	} {
		if code, body := adminDo(t, c.method, adminURL+c.path, token, nil); code != c.code || body != c.body+"\n" {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	// Same session, next command.
	err = c.Delete("/b.txt")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 550 || te.Msg != "deletion is disabled by policy" {
		t.Fatalf("DELE after the upload: %v", err)
	}
	if code, body := adminDo(t, "PUT", policyURL, token, []byte("garbage")); code != 400 || !strings.Contains(body, "not a WebAssembly module") {
		t.Fatalf("bad upload: %d %s", code, body)
	}
	if err := c.Delete("/b.txt"); err == nil {
		t.Fatal("the bad upload replaced the policy")
	}

	// A second server on the same policy directory restores the policy.
	ftpAddr2, _ := startServeWithAdmin(t, "--root", root, "--user", "alice:pw", "--policy-dir", policies)
	c2, err := ftp.Dial(ftpAddr2, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Quit()
	if err := c2.Login("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	// The restore runs in the background: until it is done, the commands
	// the stored policy subscribes to are refused with 451 (never let
	// through); then the policy rules.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		err := c2.Delete("/b.txt")
		if errors.As(err, &te) && te.Code == 451 && strings.Contains(te.Msg, "being loaded") && time.Now().Before(deadline) {
			continue
		}
		if !errors.As(err, &te) || te.Code != 550 {
			t.Fatalf("DELE after restart: %v", err)
		}
		break
	}
}

func TestServePolicyFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--admin-listen", "0.0.0.0:0"}, 2, "needs --admin-tls-cert"},
		{[]string{"--admin-listen", "nowhere"}, 2, "want HOST:PORT"},
		{[]string{"--policy-on-error", "maybe"}, 2, "want deny or allow"},
		{[]string{"--policy-timeout", "1h"}, 2, "want 1ms to 5s"},
		{[]string{"--admin-listen", "127.0.0.1:0", "--admin-token-file", filepath.Join(dir, "none")}, 2, "--admin-token-file: open "},
		{[]string{"--policy", filepath.Join(dir, "none.wasm")}, 1, "--policy"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"serve", "--root", dir, "--listen", "127.0.0.1:0", "--policy-dir", filepath.Join(dir, "p")}, tc.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

// TestServeAdminTLS: with --admin-tls-cert the admin API speaks HTTPS only.
func TestServeAdminTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, err := conf.SelfSigned(time.Now(), "ftpgate self-signed", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, tokenFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "tok")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	const token = "tls-operator-token-123456"
	_ = os.WriteFile(tokenFile, []byte(token), 0o600)
	_, adminURL := startServeWithAdmin(t, "--root", filepath.Join(dir, "root"), "--policy-dir", filepath.Join(dir, "p"),
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile, "--admin-tls-cert", certFile, "--admin-tls-key", keyFile)
	if !strings.HasPrefix(adminURL, "https://") {
		t.Fatalf("admin URL %q", adminURL)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", adminURL+"/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/stats over TLS: %d", resp.StatusCode)
	}
	plain := "http://" + strings.TrimPrefix(adminURL, "https://") + "/v1/stats"
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served the API")
		}
	}
}
