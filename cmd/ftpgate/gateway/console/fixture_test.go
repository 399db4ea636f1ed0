package console_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/internal/servetest"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
	"github.com/ftpgate/ftpgate/tenancy"
)

const (
	opToken     = "operator-token-0123456789abcdef"
	acmeToken   = "acme-admin-token-0123456789"
	globexToken = "globex-admin-token-0123456789"
)

// fixture is a gateway from a server file with the console on, two
// tenants with admin tokens (acme: alice, quota 1 MiB; globex: bob),
// limits that ban an address after 3 failed logins, and a policy store.
type fixture struct {
	g    *gateway.Gateway
	base string // the admin listener's URL
	addr string // the FTP control address
}

func start(t *testing.T) *fixture {
	t.Helper()
	f, _ := run(t, standardFiles(t), false)
	return f
}

// standardFiles are start's server and tenant files, by path under the
// gateway's directory; a test may add to them before run.
func standardFiles(t *testing.T) map[string]string {
	t.Helper()
	hash, err := tenancy.HashPasswordArgon2id("secret", tenancy.Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"token": opToken + "\n",
		"server.toml": "[listen]\ncontrol = \"127.0.0.1:0\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n" +
			"[timeouts]\nlogin_failure_delay = \"1ms\"\n" +
			"[limits]\nlogin_failures = 3\nlogin_window = \"10m\"\nban = \"1h\"\n" +
			"[policy]\ndir = \"policies\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\nconsole = true\n",
		"tenants/acme.toml": tenantFile("acme", acmeToken, "hostnames = [\"ftp.acme.test\"]\n") + "[quota]\nbytes = 1048576\nfiles = 100\n" +
			fmt.Sprintf("[[users]]\nname = \"alice\"\npassword = %q\n", hash),
		"tenants/globex.toml": tenantFile("globex", globexToken, "") + fmt.Sprintf("[[users]]\nname = \"bob\"\npassword = %q\n", hash),
	}
}

// tenantFile is the head of a tenant file: its id, its admin token's
// digest, the top-level keys top, and memory storage; tables of its own
// may follow.
func tenantFile(id, token, top string) string {
	s := sha256.Sum256([]byte(token))
	return fmt.Sprintf("id = %q\nadmin_token_sha256 = %q\n%s[storage]\nbackend = \"memory\"\n", id, hex.EncodeToString(s[:]), top)
}

// run writes files (path under a fresh directory: text) and runs a
// gateway from its server.toml until the test ends; with reread the
// gateway's Reread loads the files again, so that a test can change
// them. It returns the gateway, ready, and the directory.
func run(t *testing.T, files map[string]string, reread bool) (*fixture, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tenants"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (gateway.Config, error) { return gateway.Load(filepath.Join(dir, "server.toml")) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	opts := gateway.Options{Logger: slog.New(slog.DiscardHandler)}
	if reread {
		opts.Reread = load
	}
	g, err := gateway.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	servetest.Serve(t, g.Run, g.Shutdown)
	enginetest.Eventually(t, "the gateway is ready", func() bool { return g.Ready() == nil })
	return &fixture{g: g, base: g.AdminURL(), addr: g.Addr().String()}, dir
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, as a browser's form posts are checked here step by step.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	// headers are sent with every request (Origin, Sec-Fetch-Site).
	headers http.Header
}

func (f *fixture) browser(t *testing.T) *browser { return f.browserFrom(t, "") }

// browserFrom is a browser whose connections leave from the loopback
// address from ("": the system's choice).
func (f *fixture) browserFrom(t *testing.T, from string) *browser {
	jar, _ := cookiejar.New(nil)
	c := fromClient(from)
	c.Jar = jar
	return &browser{t: t, base: f.base, headers: http.Header{}, c: c}
}

// reply is a response with its body read.
type reply struct {
	*http.Response
	body string
}

func (b *browser) do(method, path string, body io.Reader, contentType string, extra http.Header) reply {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range b.headers {
		req.Header[k] = v
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return reply{resp, string(data)}
}

func (b *browser) get(path string) reply { b.t.Helper(); return b.do("GET", path, nil, "", nil) }

func (b *browser) post(path string, form url.Values, extra http.Header) reply {
	b.t.Helper()
	return b.do("POST", path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", extra)
}

// login logs in and checks the redirect to the identity's first page.
func (b *browser) login(tenant, token string) {
	b.t.Helper()
	r := b.post("/console/login", url.Values{"tenant": {tenant}, "token": {token}}, nil)
	want := "/console/overview"
	if tenant != "" && token != opToken {
		want = "/console/t/" + tenant + "/"
	}
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != want {
		b.t.Fatalf("login %q: %d %s %q", tenant, r.StatusCode, r.Header.Get("Location"), r.body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's form token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	r := b.get(path)
	m := csrfField.FindStringSubmatch(r.body)
	if r.StatusCode != 200 || m == nil {
		b.t.Fatalf("GET %s: %d, no form token in %q", path, r.StatusCode, r.body)
	}
	return m[1]
}

// ftpCode is the reply code of a jlaffaye/ftp error, 0 for another error.
func ftpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

var regexpHash = regexp.MustCompile(`name="hash" value="([0-9a-f]{64})"`)

func sessionsQuery(tenant string) sessions.Query { return sessions.Query{Tenant: tenant, Limit: 100} }

// checkForm is the policy page's check form with the example module,
// on_error deny, the form token and the fields given as name, value
// pairs; it returns the body and its content type.
func checkForm(token string, fields ...string) (*bytes.Buffer, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", token)
	fw, _ := mw.CreateFormFile("module", "example.wasm")
	_, _ = fw.Write(testmod.Example())
	_ = mw.WriteField("on_error", "deny")
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	_ = mw.Close()
	return &body, mw.FormDataContentType()
}

// check uploads the example module for a dry run on tenant's policy page.
func (b *browser) check(tenant string) reply {
	b.t.Helper()
	body, ctype := checkForm(b.csrf("/console/t/"+tenant+"/policy"), "verb", "DELE", "path", "/x")
	r := b.do("POST", "/console/t/"+tenant+"/policy/check", body, ctype, nil)
	if r.StatusCode != 200 || !strings.Contains(r.body, `id="install"`) {
		b.t.Fatalf("check: %d %q", r.StatusCode, r.body)
	}
	return r
}

// api sends GET path to the admin API with a bearer token (none when
// ""), from the local address from ("": the system's choice, else a
// loopback address such as 127.0.0.7), and returns the reply's status.
func (f *fixture) api(t *testing.T, path, token, from string) int {
	t.Helper()
	r := f.apiReply(t, path, token, from)
	return r.StatusCode
}

// apiReply is api's reply, its body read.
func (f *fixture) apiReply(t *testing.T, path, token, from string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", f.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := fromClient(from).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{resp, string(data)}
}

// fromClient is an HTTP client that does not follow redirects, whose
// connections leave from the local address from ("": the system's
// choice, and the shared connection pool).
func fromClient(from string) *http.Client {
	c := &http.Client{Timeout: enginetest.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if from != "" {
		d := &net.Dialer{Timeout: enginetest.Timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c.Transport = &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	}
	return c
}
