package admin_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestAttackOneUploadPerTenant: an upload is held in memory whole (up to
// the module limit) until it has compiled, and compiles wait for a few
// shared workers, so each upload in flight pins up to MaxModuleSize of
// the server's memory. A tenant has one policy, so a second upload while
// one is in flight is refused at once (429) instead of being read: one
// tenant pins at most one module's worth, not one per connection.
//
// Two uploads announce a module and send only its first bytes: whichever
// reaches the handler second is refused, with its body unsent (the
// refusal does not wait for it), and the other is in flight. (Sending
// one first and assuming it arrives first made the test flaky: the
// second could overtake it, and its refusal waited for a body never
// sent.)
func TestAttackOneUploadPerTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ups := []*partialUpload{startPartialUpload(t, f.url), startPartialUpload(t, f.url)}
	var refused, inFlight *partialUpload
	select {
	case <-ups[0].answered:
		refused, inFlight = ups[0], ups[1]
	case <-ups[1].answered:
		refused, inFlight = ups[1], ups[0]
	case <-time.After(20 * time.Second):
		t.Fatal("neither of two uploads of one tenant was refused (before it sent its body) within 20 s")
	}
	defer func() { _ = inFlight.conn.Close() }()
	if refused.err != nil || refused.resp.StatusCode != 429 || refused.resp.Header.Get("Retry-After") == "" ||
		refused.errCode != "upload_in_progress" {
		t.Fatalf("the upload refused while the other is in flight: %+v", refused)
	}
	// The one in flight still is: a whole upload is refused too; another
	// tenant's is not.
	checkError(t, "an upload while one is in flight", f.do("PUT", "/v1/tenants/acme/policy", acmeToken, bytes.NewReader(testmod.Example())),
		429, "upload_in_progress")
	if r := f.do("PUT", "/v1/tenants/globex/policy", globexToken, bytes.NewReader(testmod.Example())); r.code != 200 {
		t.Errorf("another tenant's upload: %d %s", r.code, r.body)
	}
	select {
	case <-inFlight.answered:
		t.Fatalf("the upload in flight was answered before its body came: %+v", inFlight)
	default:
	}
	// When it ends (here: its client goes away), uploads are taken again.
	_ = inFlight.conn.Close()
	var r reply
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if r = f.do("PUT", "/v1/tenants/acme/policy", acmeToken, io.Reader(bytes.NewReader(testmod.Example()))); r.code == 200 {
			return
		}
	}
	t.Errorf("upload after the first ended: %d %s", r.code, r.body)
}

// partialUpload is an upload of acme's policy that announced a module of
// moduleLimit bytes and sent its first four. answered is closed once the
// server has answered it (resp and errCode, the error's code) or the
// connection ended first (err).
type partialUpload struct {
	conn     net.Conn
	answered chan struct{}
	resp     *http.Response
	errCode  string
	err      error
}

// startPartialUpload sends a partialUpload to the admin server at url.
func startPartialUpload(t *testing.T, url string) *partialUpload {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := fmt.Fprintf(c, "PUT /v1/tenants/acme/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n\x00asm",
		acmeToken, moduleLimit); err != nil {
		t.Fatal(err)
	}
	u := &partialUpload{conn: c, answered: make(chan struct{})}
	// The reader stops at the reply, at the connection's close or at
	// its deadline, whichever comes first.
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	go func() {
		defer close(u.answered)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			u.err = err
			return
		}
		defer resp.Body.Close()
		var e admin.Error
		if body, err := io.ReadAll(io.LimitReader(resp.Body, 4096)); err == nil && json.Unmarshal(body, &e) == nil {
			u.errCode = e.Code
		}
		u.resp = resp
	}()
	return u
}
