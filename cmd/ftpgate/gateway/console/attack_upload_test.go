package console_test

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestAttackConsoleOneUploadPerTenant: the API takes one upload of a
// tenant's module at a time (429 for the next), so that a tenant pins at
// most one module's size (16 MiB by default) of memory whatever the
// connections it opens. The console's check reads a module too, and
// takes the same turn: while one of acme's checks is still sending its
// module, another check from acme is refused before its body is read,
// and so is an upload through the API.
func TestAttackConsoleOneUploadPerTenant(t *testing.T) {
	f := start(t)
	b := f.browser(t)
	b.login("acme", acmeToken)
	token := b.csrf("/console/t/acme/policy")

	// The slow check: its form token and the start of its module, then
	// nothing until the test ends. It reports its reply's status when it
	// ends early: refused with 429 when one of the polling checks below
	// held the turn as it came, and it is then sent again.
	slow := func() (<-chan int, func()) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		ended := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("POST", f.base+"/console/t/acme/policy/check", pr)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			code := 0
			if resp, err := b.c.Do(req); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			_ = pr.CloseWithError(errors.New("request over")) // unblocks the writes below if it ended early
			ended <- code
		}()
		_ = mw.WriteField("csrf", token)
		fw, _ := mw.CreateFormFile("module", "slow.wasm")
		_, _ = fw.Write(testmod.Example()[:8])
		return ended, func() {
			_ = pw.CloseWithError(errors.New("test over"))
			<-ended
		}
	}
	ended, stop := slow()
	t.Cleanup(func() { stop() })

	check := func() int {
		body, ctype := checkForm(token)
		return b.do("POST", "/console/t/acme/policy/check", body, ctype, nil).StatusCode
	}
	// Poll (bounded) until the server has the slow check in hand, which
	// shows in the replies to the others.
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case code := <-ended:
			if code != http.StatusTooManyRequests {
				t.Fatalf("the slow check ended with %d", code)
			}
			ended, stop = slow() // it met a polling check's turn: again
		default:
		}
		code := check()
		if code == http.StatusTooManyRequests {
			break
		}
		if code != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("a second check of acme's module while the first is still sending it: %d, want 429", code)
		}
	}
	req, _ := http.NewRequest("PUT", f.base+"/v1/tenants/acme/policy", bytes.NewReader(testmod.Example()))
	req.Header.Set("Authorization", "Bearer "+acmeToken)
	resp, err := fromClient("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "upload_in_progress") {
		t.Fatalf("an API upload of acme's module while a console check sends one: %d %s, want 429 upload_in_progress", resp.StatusCode, body)
	}
	// Another tenant's check is not held up.
	g := f.browser(t)
	g.login("globex", globexToken)
	g.check("globex")
}
