package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

const globexToken = "globex-admin-token-0123456789"

// twoTenants is a server file with [admin], [limits] that ban after 3
// failed logins (nothing safe), and two tenants with their own admin
// tokens: acme (default tenant; alice in /alice and carol in /, files
// on disk in data/acme) and globex (bob, in memory).
type twoTenants struct {
	*files
	data string // acme's storage directory
}

func newTwoTenants(t *testing.T, serverExtra ...string) *twoTenants {
	t.Helper()
	f := newFiles(t)
	if err := os.WriteFile(filepath.Join(f.dir, "token"), []byte(opToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	digest := func(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }
	server := "[listen]\ncontrol = \"127.0.0.1:0\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n" +
		"[timeouts]\nlogin_failure_delay = \"1ms\"\n" +
		"[limits]\nlogin_failures = 3\nlogin_window = \"10m\"\nban = \"1h\"\n" +
		"[policy]\ndir = \"policies\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n" +
		strings.Join(serverExtra, "")
	acme := fmt.Sprintf("id = \"acme\"\nadmin_token_sha256 = %q\n[storage]\nbackend = \"os\"\ndir = \"../data/acme\"\n"+
		"[[users]]\nname = \"alice\"\npassword = %q\nhome = \"/alice\"\n[[users]]\nname = \"carol\"\npassword = %q\n", digest(acmeToken), f.hash, f.hash)
	globex := fmt.Sprintf("id = \"globex\"\nadmin_token_sha256 = %q\n[storage]\nbackend = \"memory\"\n"+
		"[[users]]\nname = \"bob\"\npassword = %q\n", digest(globexToken), f.hash)
	for name, text := range map[string]string{
		f.server: server, f.tenant: acme, filepath.Join(f.dir, "tenants", "globex.toml"): globex,
	} {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &twoTenants{files: f, data: filepath.Join(f.dir, "data", "acme")}
}

// listSessions GETs a session list and decodes it.
func listSessions(t *testing.T, url, token string) sessions.ListReply {
	t.Helper()
	code, body := adminCall(t, "GET", url, token, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var r sessions.ListReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return r
}

// findSession returns the session with the login name, or nil.
func findSession(r sessions.ListReply, login string) *sessions.Session {
	for i := range r.Sessions {
		if r.Sessions[i].Login == login {
			return &r.Sessions[i]
		}
	}
	return nil
}

// ftpCode is the reply code of a jlaffaye/ftp error, 0 for another error.
func ftpCode(err error) (int, string) {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg
	}
	return 0, fmt.Sprint(err)
}

// TestAdminSessionsListAndEnd: a logged-in session of acme is listed with
// its user, login name and address to the operator and to acme's token;
// globex's token neither sees it nor ends it, and its attempt is answered
// exactly as an id that does not exist; acme's token ends it with a
// reason holding CR/LF, and the client's next command reads one line,
// 421 and the cleaned reason, then the end of the connection. The
// operator ends globex's session through the operator route.
func TestAdminSessionsListAndEnd(t *testing.T) {
	f := newTwoTenants(t)
	g := startWith(t, f.files, Options{})
	base := g.AdminURL()
	addr := g.Addr().String()
	alice, _, _ := enginetest.Dial(t, addr, "127.0.0.2")
	alice.Expect("USER alice", 331)
	alice.Expect("PASS secret", 230)
	alice.Expect("PWD", 257)
	bob := enginetest.Login(t, addr, "127.0.0.3", "bob@globex", "secret")

	all := listSessions(t, base+"/v1/sessions", opToken)
	sa, sb := findSession(all, "alice"), findSession(all, "bob@globex")
	if sa == nil || sb == nil {
		t.Fatalf("operator list %+v: want alice's and bob's sessions", all)
	}
	if sa.Tenant != "acme" || sa.User != "alice" || !sa.LoggedIn || !strings.HasPrefix(sa.Address, "127.0.0.2:") ||
		sa.Command != "PWD" || sa.TLS || sa.Since.IsZero() || sa.Transfer != nil {
		t.Fatalf("alice's session: %+v", sa)
	}
	if sb.Tenant != "globex" || sb.User != "bob" || !strings.HasPrefix(sb.Address, "127.0.0.3:") {
		t.Fatalf("bob's session: %+v", sb)
	}
	acme := listSessions(t, base+"/v1/tenants/acme/sessions", acmeToken)
	if len(acme.Sessions) != 1 || acme.Sessions[0].ID != sa.ID || acme.Sessions[0].User != "alice" {
		t.Fatalf("acme's list: %+v, want alice's session only", acme)
	}
	if l := listSessions(t, base+"/v1/tenants/acme/sessions", opToken); len(l.Sessions) != 1 || l.Sessions[0].ID != sa.ID {
		t.Fatalf("acme's list for the operator: %+v", l)
	}
	globex := listSessions(t, base+"/v1/tenants/globex/sessions", globexToken)
	if len(globex.Sessions) != 1 || globex.Sessions[0].ID != sb.ID {
		t.Fatalf("globex's list: %+v, want bob's session only", globex)
	}
	for _, r := range []struct{ method, path, token string }{
		{"GET", "/v1/tenants/acme/sessions", globexToken},
		{"GET", "/v1/sessions", acmeToken},
		{"DELETE", "/v1/sessions/" + sa.ID, globexToken},
		{"DELETE", "/v1/tenants/acme/sessions/" + sa.ID, globexToken},
	} {
		if code, body := adminCall(t, r.method, base+r.path, r.token, nil); code != 401 {
			t.Errorf("%s %s with another tenant's token: %d %s, want 401", r.method, r.path, code, body)
		}
	}
	// Another tenant's session is a session that does not exist.
	codeTheirs, bodyTheirs := adminCall(t, "DELETE", base+"/v1/tenants/globex/sessions/"+sa.ID, globexToken, []byte(`{"reason":"x"}`))
	codeNone, bodyNone := adminCall(t, "DELETE", base+"/v1/tenants/globex/sessions/4000000000", globexToken, []byte(`{"reason":"x"}`))
	if codeTheirs != 404 || codeTheirs != codeNone || bodyTheirs != bodyNone {
		t.Fatalf("globex ending acme's session: %d %s; a missing id: %d %s; want the same 404", codeTheirs, bodyTheirs, codeNone, bodyNone)
	}
	// Nor for the operator on globex's path.
	if code, body := adminCall(t, "DELETE", base+"/v1/tenants/globex/sessions/"+sa.ID, opToken, nil); code != 404 || body != bodyNone {
		t.Fatalf("operator ending acme's session under globex: %d %s", code, body)
	}
	alice.Expect("NOOP", 200) // still there

	code, body := adminCall(t, "DELETE", base+"/v1/tenants/acme/sessions/"+sa.ID, acmeToken,
		[]byte(`{"reason":"maintenance\r\n226 Transfer complete.\r\n\u0000\u001b[2Jwindow"}`))
	const want = "maintenance 226 Transfer complete. [2Jwindow"
	var ended sessions.EndReply
	if code != 200 || json.Unmarshal([]byte(body), &ended) != nil || ended.Ended != sa.ID || ended.Reason != want {
		t.Fatalf("acme ending alice's session: %d %s, want 200 with reason %q", code, body, want)
	}
	// What the client reads: exactly one line, then the end. It sends
	// nothing: a line to the closed socket draws a reset, which would
	// drop the 421 unread.
	_ = alice.NetConn().SetReadDeadline(time.Now().Add(enginetest.Timeout))
	rest, _ := io.ReadAll(alice.NetConn())
	if string(rest) != "421 "+want+"\r\n" {
		t.Fatalf("alice read %q after being ended, want one 421 line", rest)
	}
	enginetest.Eventually(t, "alice's session gone from the list", func() bool {
		return findSession(listSessions(t, base+"/v1/sessions", opToken), "alice") == nil
	})
	if code, body := adminCall(t, "DELETE", base+"/v1/tenants/acme/sessions/"+sa.ID, acmeToken, nil); code != 404 || body != bodyNone {
		t.Fatalf("ending it again: %d %s, want the 404 of a missing id", code, body)
	}

	// The operator ends bob's session; jlaffaye/ftp reads the 421.
	if code, body := adminCall(t, "DELETE", base+"/v1/sessions/"+sb.ID, opToken, nil); code != 200 {
		t.Fatalf("operator ending bob's session: %d %s", code, body)
	}
	if code, msg := ftpCode(bob.NoOp()); code != 421 || msg != sessions.DefaultReason {
		t.Fatalf("bob's next command: %d %s, want 421 %s", code, msg, sessions.DefaultReason)
	}
}

// TestAdminSessionsAddressBehindProxy: behind a balancer that sends the
// PROXY protocol, a session is listed with the client's address the
// header named, not the balancer's.
func TestAdminSessionsAddressBehindProxy(t *testing.T) {
	f := newTwoTenants(t, "[proxy_protocol]\nmode = \"required\"\ntrusted = [\"127.0.0.1/32\"]\n")
	g := startWith(t, f.files, Options{})
	conn, err := enginetest.Dialer("127.0.0.1").Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "PROXY TCP4 203.0.113.9 127.0.0.1 40000 21\r\n"); err != nil {
		t.Fatal(err)
	}
	c := enginetest.NewConn(t, conn)
	if code, text := c.Read(); code != 220 {
		t.Fatalf("banner: %d %s", code, text)
	}
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	s := findSession(listSessions(t, g.AdminURL()+"/v1/tenants/acme/sessions", acmeToken), "alice")
	if s == nil || s.Address != "203.0.113.9:40000" {
		t.Fatalf("session behind the balancer: %+v, want the address 203.0.113.9:40000", s)
	}
}

// TestAdminSessionsPaging: ?limit= cuts the list, next names the page
// after, and the pages together hold every session once.
func TestAdminSessionsPaging(t *testing.T) {
	f := newTwoTenants(t)
	g := startWith(t, f.files, Options{})
	base := g.AdminURL()
	for range 3 {
		enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	}
	first := listSessions(t, base+"/v1/tenants/acme/sessions?limit=2", acmeToken)
	if len(first.Sessions) != 2 || first.Next != first.Sessions[1].ID {
		t.Fatalf("first page: %+v", first)
	}
	second := listSessions(t, base+"/v1/tenants/acme/sessions?limit=2&after="+first.Next, acmeToken)
	if len(second.Sessions) != 1 || second.Next != "" || second.Sessions[0].ID == first.Sessions[0].ID || second.Sessions[0].ID == first.Sessions[1].ID {
		t.Fatalf("second page: %+v after %+v", second, first)
	}
}

// feeder is an upload body the test hands out chunk by chunk.
type feeder struct {
	pr *io.PipeReader
	pw *io.PipeWriter
}

func newFeeder() *feeder {
	pr, pw := io.Pipe()
	return &feeder{pr: pr, pw: pw}
}

// TestAdminSessionsUploadEnded: a running upload is listed with its verb,
// path inside the tenant (alice's home is /alice), direction and bytes, which move as the client sends; the
// session's byte totals count a finished upload too. Ending the session
// in the middle of the upload leaves nothing under the upload's name, on
// disk or through FTP, and the file uploaded before with 226 intact.
func TestAdminSessionsUploadEnded(t *testing.T) {
	f := newTwoTenants(t)
	g := startWith(t, f.files, Options{})
	base := g.AdminURL()
	addr := g.Addr().String()
	c := enginetest.Login(t, addr, "127.0.0.2", "alice", "secret")
	done := bytes.Repeat([]byte("acknowledged "), 1000)
	if err := c.Stor("done.bin", bytes.NewReader(done)); err != nil {
		t.Fatalf("STOR done.bin: %v", err)
	}

	sessionOf := func(login string) *sessions.Session {
		return findSession(listSessions(t, base+"/v1/tenants/acme/sessions", acmeToken), login)
	}
	// The result of a transfer is counted just after its 226 is written.
	enginetest.Eventually(t, "done.bin counted", func() bool {
		s := sessionOf("alice")
		return s != nil && s.BytesIn == int64(len(done))
	})

	fd := newFeeder()
	t.Cleanup(func() { fd.pw.CloseWithError(errors.New("test ended")) })
	stored := make(chan error, 1)
	go func() { stored <- c.Stor("partial.bin", fd.pr) }()
	chunk := bytes.Repeat([]byte("p"), 64<<10)
	// The engine counts an upload's bytes per chunk of its copy (256 KiB
	// and growing), so the test feeds until the listing shows bytes, then
	// until it shows more: at most maxFeed, never waiting on time.
	const maxFeed = 64 << 20
	var s *sessions.Session
	var seen []int64
	for sent := 0; len(seen) < 2; sent += len(chunk) {
		if sent >= maxFeed {
			t.Fatalf("%d bytes sent; the listing showed %v", sent, seen)
		}
		if _, err := fd.pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
		s = sessionOf("alice")
		if s == nil || s.Transfer == nil {
			t.Fatalf("no transfer listed during the upload: %+v", s)
		}
		if s.Transfer.Verb != "STOR" || s.Transfer.Direction != "upload" || s.Transfer.Path != "/alice/partial.bin" ||
			s.BytesIn != int64(len(done))+s.Transfer.Bytes || s.BytesOut != 0 || s.Transfer.Bytes > int64(sent+len(chunk)) {
			t.Fatalf("session during the upload: %+v, transfer %+v", s, s.Transfer)
		}
		if b := s.Transfer.Bytes; b > 0 && (len(seen) == 0 || b > seen[len(seen)-1]) {
			seen = append(seen, b)
		}
	}

	code, body := adminCall(t, "DELETE", base+"/v1/sessions/"+s.ID, opToken, []byte(`{"reason":"upload stopped by the operator"}`))
	if code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	fd.pw.CloseWithError(errors.New("session ended")) // the client stops feeding
	// The client reads the 421 where it waited for the upload's 226.
	if code, msg := ftpCode(<-stored); code != 421 || msg != "upload stopped by the operator" {
		t.Fatalf("STOR of the ended session: %d %s, want 421 and the reason", code, msg)
	}
	if _, err := os.Stat(filepath.Join(f.data, "alice", "partial.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial.bin on disk after the session ended: %v", err)
	}
	other := enginetest.Login(t, addr, "127.0.0.2", "carol", "secret")
	if names, err := other.NameList("/alice"); err != nil || strings.Join(names, ",") != "/alice/done.bin" {
		t.Fatalf("NLST after: %v %v, want done.bin only", names, err)
	}
	r, err := other.Retr("alice/done.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, done) {
		t.Fatalf("done.bin after: %d bytes, %v; want the %d acknowledged", len(got), err, len(done))
	}
	// Bytes sent to the client count too: a listing and a download.
	enginetest.Eventually(t, "carol's downloads counted", func() bool {
		s := sessionOf("carol")
		return s != nil && s.BytesOut > int64(len(done)) && s.BytesIn == 0
	})
	enginetest.Eventually(t, "the temporary upload file removed", func() bool {
		entries, _ := os.ReadDir(filepath.Join(f.data, "alice"))
		return len(entries) == 1
	})
}

// TestAdminBans: three failed logins from one address ban it (for an
// account that does not exist, so that alice's own score stays whole); the ban is
// listed to the operator (prefix, end, offences) and refused to a tenant's
// token, as is lifting it; the operator lifts it, after which the address
// logs in; a second lift finds nothing.
func TestAdminBans(t *testing.T) {
	f := newTwoTenants(t)
	g := startWith(t, f.files, Options{})
	base := g.AdminURL()
	addr := g.Addr().String()
	const ip = "127.0.0.7"
	for i := range 3 {
		c, code, _ := enginetest.Dial(t, addr, ip)
		if code != 220 {
			t.Fatalf("attempt %d: banner %d", i, code)
		}
		c.Expect("USER mallory", 331)
		c.Expect("PASS wrong", 530)
	}
	if _, code, text := enginetest.Dial(t, addr, ip); code != 421 {
		t.Fatalf("after 3 failures: %d %s, want 421", code, text)
	}

	for _, r := range []struct{ method, path, token string }{
		{"GET", "/v1/bans", acmeToken},
		{"DELETE", "/v1/bans/" + ip, acmeToken},
		{"DELETE", "/v1/bans/" + ip, globexToken},
	} {
		if code, body := adminCall(t, r.method, base+r.path, r.token, nil); code != 401 {
			t.Errorf("%s %s with a tenant's token: %d %s, want 401", r.method, r.path, code, body)
		}
	}
	code, body := adminCall(t, "GET", base+"/v1/bans", opToken, nil)
	var bans sessions.BansReply
	if code != 200 || json.Unmarshal([]byte(body), &bans) != nil || bans.Total != 1 || len(bans.Bans) != 1 {
		t.Fatalf("GET /v1/bans: %d %s, want one ban", code, body)
	}
	if b := bans.Bans[0]; b.Prefix != ip+"/32" || b.Offences != 1 || time.Until(b.Until) < 50*time.Minute {
		t.Fatalf("ban %+v: want %s/32, one offence, about an hour", b, ip)
	}
	if code, body := adminCall(t, "DELETE", base+"/v1/bans/"+ip, opToken, nil); code != 200 || !strings.Contains(body, `"lifted":1`) {
		t.Fatalf("lifting: %d %s", code, body)
	}
	c := enginetest.Login(t, addr, ip, "alice", "secret")
	if err := c.NoOp(); err != nil {
		t.Fatal(err)
	}
	if code, body := adminCall(t, "DELETE", base+"/v1/bans/127.0.0.0/8", opToken, nil); code != 404 {
		t.Fatalf("lifting again: %d %s, want 404", code, body)
	}
	if code, body := adminCall(t, "GET", base+"/v1/bans", opToken, nil); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Fatalf("GET /v1/bans after: %d %s", code, body)
	}
}

// TestAdminSessionsAttacks: ids that are paths, huge, signed, padded or
// not numbers; bodies too large (announced or not), not JSON, or with
// fields the API lacks; bad limits and cursors; and prefixes that are
// not prefixes. None ends the session, each gets a JSON error, and the
// session still answers.
func TestAdminSessionsAttacks(t *testing.T) {
	f := newTwoTenants(t)
	g := startWith(t, f.files, Options{})
	base := g.AdminURL()
	alice, _, _ := enginetest.Dial(t, g.Addr().String(), "127.0.0.2")
	alice.Expect("USER alice", 331)
	alice.Expect("PASS secret", 230)
	s := findSession(listSessions(t, base+"/v1/sessions", opToken), "alice")
	if s == nil {
		t.Fatal("alice's session not listed")
	}
	_, missing := adminCall(t, "DELETE", base+"/v1/sessions/4000000000", opToken, nil)
	huge := strings.Repeat("9", 60)
	for _, r := range []struct {
		path string
		body []byte
		code int
		same bool // the body of a missing id
	}{
		{"/v1/sessions/" + huge, nil, 404, true},
		{"/v1/sessions/99999999999", nil, 404, true},
		{"/v1/sessions/abc", nil, 404, true},
		{"/v1/sessions/-" + s.ID, nil, 404, true},
		{"/v1/sessions/+" + s.ID, nil, 400, false},
		{"/v1/sessions/0" + s.ID, nil, 404, true},
		{"/v1/sessions/" + s.ID + ".0", nil, 404, true},
		{"/v1/sessions/" + strings.Repeat("9", 65), nil, 400, false},
		{"/v1/sessions/" + strings.Repeat("9", 4000), nil, 400, false},
		{"/v1/sessions/..%2F..%2Fbans", nil, 400, false},
		{"/v1/sessions/%00" + s.ID, nil, 400, false},
		{"/v1/sessions/" + s.ID + "%0d%0a", nil, 400, false},
		{"/v1/tenants/acme/sessions/..%2F" + s.ID, nil, 400, false},
		{"/v1/sessions/" + s.ID, []byte(`{"reason":"` + strings.Repeat("x", 8<<10) + `"}`), 413, false},
		{"/v1/sessions/" + s.ID, []byte(`{"reason":`), 400, false},
		{"/v1/sessions/" + s.ID, []byte(`{"reason":"a"}{"reason":"b"}`), 400, false},
		{"/v1/sessions/" + s.ID, []byte(`{"reason":"a","code":200}`), 400, false},
		{"/v1/sessions/" + s.ID, []byte(`"reason"`), 400, false},
		{"/v1/bans/not-an-address", nil, 400, false},
		{"/v1/bans/", nil, 400, false},
		{"/v1/bans/fe80::1%25eth0", nil, 400, false},
		{"/v1/bans/::ffff:0.0.0.0%2F8", nil, 400, false},
		{"/v1/bans/127.0.0.1/8/9", nil, 400, false},
	} {
		code, body := adminCall(t, "DELETE", base+r.path, opToken, r.body)
		var e struct{ Error, Code string }
		if code != r.code || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" || e.Code == "" || r.same && body != missing {
			t.Errorf("DELETE %.80s: %d %s, want %d (a JSON error%s)", r.path, code, body, r.code, map[bool]string{true: " as for a missing id"}[r.same])
		}
	}
	// A body without Content-Length past the bound.
	code, body := adminCallChunked(t, "DELETE", base+"/v1/sessions/"+s.ID, opToken, `{"reason":"`+strings.Repeat("x", 64<<10)+`"}`)
	if code != 413 {
		t.Errorf("chunked oversized body: %d %s, want 413", code, body)
	}
	for _, q := range []string{"sessions?limit=0", "sessions?limit=-1", "sessions?limit=x", "sessions?limit=99999999999999999999",
		"sessions?after=..%2F", "sessions?after=abc", "sessions?after=" + strings.Repeat("1", 65), "bans?limit=0", "bans?limit=1e3"} {
		if code, body := adminCall(t, "GET", base+"/v1/"+q, opToken, nil); code != 400 || !strings.Contains(body, `"code":"bad_`) {
			t.Errorf("GET /v1/%s: %d %s, want a 400 JSON error", q, code, body)
		}
	}
	for _, r := range []struct{ method, path string }{{"POST", "/v1/sessions"}, {"PUT", "/v1/sessions/" + s.ID}, {"POST", "/v1/bans"}} {
		if code, body := adminCall(t, r.method, base+r.path, opToken, nil); code != 405 || !strings.Contains(body, `"code":"method_not_allowed"`) {
			t.Errorf("%s %s: %d %s, want 405", r.method, r.path, code, body)
		}
	}
	if l := listSessions(t, base+"/v1/sessions?limit=100000", opToken); len(l.Sessions) != 1 {
		t.Errorf("a limit over the cap: %+v", l)
	}
	alice.Expect("NOOP", 200)

	// A reason that is too long, not UTF-8, or holds controls and unusual
	// line breaks: one printable line of at most MaxReason bytes.
	reason := "\u2028\u0085stop\x1b]0;x\x07 \xff\xfe" + strings.Repeat("é", 300)
	b, _ := json.Marshal(sessions.EndRequest{Reason: reason})
	if code, body := adminCall(t, "DELETE", base+"/v1/sessions/"+s.ID, opToken, b); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	// The 421 is on its way once DELETE answered (CloseWithReply writes it
	// before the close). The client sends nothing more: a line to a
	// closed socket draws a reset, which would drop the 421 unread.
	_ = alice.NetConn().SetReadDeadline(time.Now().Add(enginetest.Timeout))
	rest, _ := io.ReadAll(alice.NetConn())
	want := "421 stop ]0;x " + strings.Repeat("é", (sessions.MaxReason-len("stop ]0;x "))/2) + "\r\n"
	if string(rest) != want {
		t.Fatalf("the client read %q, want %q", rest, want)
	}
}

// adminCallChunked is adminCall with a body of unknown length (chunked).
func adminCallChunked(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	return adminDo(t, req, token)
}
