package admin_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestAttackOneUploadPerTenant: an upload is held in memory whole (up to
// the module limit) until it has compiled, and compiles wait for a few
// shared workers, so each upload in flight pins up to MaxModuleSize of
// the server's memory. A tenant has one policy, so a second upload while
// one is in flight is refused at once (429) instead of being read: one
// tenant pins at most one module's worth, not one per connection.
func TestAttackOneUploadPerTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	// The first upload announces a module and sends a part of it.
	c, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "PUT /v1/tenants/acme/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n\x00asm",
		acmeToken, moduleLimit); err != nil {
		t.Fatal(err)
	}
	// Once it is being read, a second upload of the same tenant is refused;
	// another tenant's is not. (Bounded retries: the first may not have
	// reached the handler yet.)
	var r reply
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		r = f.do("PUT", "/v1/tenants/acme/policy", acmeToken, bytes.NewReader(testmod.Example()))
		if r.code != 200 {
			break
		}
	}
	checkError(t, "second upload while one is in flight", r, 429, "upload_in_progress")
	if r := f.do("PUT", "/v1/tenants/globex/policy", globexToken, bytes.NewReader(testmod.Example())); r.code != 200 {
		t.Errorf("another tenant's upload: %d %s", r.code, r.body)
	}
	// When the first ends (here: its client goes away), uploads are taken again.
	_ = c.Close()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if r = f.do("PUT", "/v1/tenants/acme/policy", acmeToken, io.Reader(bytes.NewReader(testmod.Example()))); r.code == 200 {
			return
		}
	}
	t.Errorf("upload after the first ended: %d %s", r.code, r.body)
}
