package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// clusterFiles writes the files of one gateway of a cluster on the Redis
// at addr: its own directory (server file, policy directory, operator
// token) and tenant acme, with a byte quota of quota, storing in the
// shared data, as instances behind a balancer on one storage do. Its
// policy calls get the longest deadline [policy].timeout allows: the
// default, 50 ms of wall clock, is missed by calls on a loaded 2-core
// machine under -race, and the policy then fails closed (451, "local
// error in processing"), which is the bound doing its work, not what
// these tests check.
func clusterFiles(t *testing.T, addr, data string, quota int64, extra string) *files {
	t.Helper()
	f := newFiles(t)
	if err := os.WriteFile(filepath.Join(f.dir, "token"), []byte(opToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(acmeToken))
	server := fmt.Sprintf("[listen]\ncontrol = \"127.0.0.1:0\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n"+
		"[policy]\ndir = \"policies\"\ntimeout = \"5s\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n"+
		"[cluster]\nredis = %q\ndeadline = \"1s\"\n%s", addr, extra)
	tenant := fmt.Sprintf("id = \"acme\"\nadmin_token_sha256 = %q\n[quota]\nbytes = %d\n[storage]\nbackend = \"os\"\ndir = %q\n"+
		"[[users]]\nname = \"alice\"\npassword = %q\n", hex.EncodeToString(sum[:]), quota, data, f.hash)
	if err := os.WriteFile(f.server, []byte(server), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.tenant, []byte(tenant), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// replyCodeOf returns the FTP code of a jlaffaye error, 0 for none.
func replyCodeOf(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// TestClusterSharesPoliciesAndQuota: two gateways with [cluster] on one
// redis-server and one storage. A policy uploaded through A's admin API
// refuses DELE on a session of B within 2 s; parallel uploads through both
// hold acme's 1 MB quota (bytes on disk checked: one instance alone would
// take up to 1 MB each); with Redis stopped the quota fails closed (451,
// the default) while the policy keeps ruling (open), and once Redis is
// back uploads go on without a restart.
func TestClusterSharesPoliciesAndQuota(t *testing.T) {
	srv := redistest.Start(t)
	data := t.TempDir()
	const quota, size = 1_000_000, 150_000
	a := startWith(t, clusterFiles(t, srv.Addr(), data, quota, ""), Options{})
	b := startWith(t, clusterFiles(t, srv.Addr(), data, quota, ""), Options{})

	cb := enginetest.Login(t, b.Addr().String(), "127.0.0.1", "alice", "secret")
	if err := cb.Stor("keep.txt", bytes.NewReader([]byte("x"))); err != nil && replyCodeOf(err) != 450 {
		t.Fatalf("STOR through B: %v", err)
	}
	if code, body := adminCall(t, "PUT", a.AdminURL()+"/v1/tenants/acme/policy", acmeToken, testmod.Example()); code != 200 {
		t.Fatalf("PUT through A: %d %s", code, body)
	}
	// B learns of the upload by notification, and within 2 s its session's
	// DELE is refused: with 451 ("being loaded") while B compiles the
	// module, with the policy's own 550 once it runs it. The compile (in a
	// child process, within the runtime's bounds) is CPU work: on a loaded
	// machine under -race it takes longer than 2 s, so the 550 is awaited
	// within enginetest's bound, and the 2 s hold for the refusal.
	uploaded := time.Now()
	var refused time.Duration
	var last error
	enginetest.Eventually(t, "DELE through B refused by the policy uploaded through A", func() bool {
		last = cb.Delete("nothing-here.txt")
		var te *textproto.Error
		if !errors.As(last, &te) {
			return false
		}
		policy := te.Code == 550 && te.Msg == testmod.DenyMessage
		if refused == 0 && (policy || te.Code == 451 && strings.Contains(te.Msg, "policy is being loaded")) {
			refused = time.Since(uploaded)
		}
		return policy
	})
	if refused > 2*time.Second {
		t.Fatalf("DELE through B first refused %v after the upload through A, want within 2 s (last: %v)", refused, last)
	}

	// The first count of the shared usage may still run: 450 until then.
	enginetest.Eventually(t, "the shared usage counted", func() bool {
		return cb.Stor("probe.txt", bytes.NewReader([]byte("y"))) == nil
	})
	var wg sync.WaitGroup
	codes := make(chan error, 10)
	for i := range 10 {
		g := a
		if i%2 == 1 {
			g = b
		}
		wg.Go(func() {
			c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
			defer c.Quit()
			codes <- c.Stor(fmt.Sprintf("f%d.bin", i), bytes.NewReader(bytes.Repeat([]byte{byte(i)}, size)))
		})
	}
	wg.Wait()
	close(codes)
	for err := range codes {
		if err != nil && replyCodeOf(err) != 552 {
			t.Errorf("an upload ended with %v", err)
		}
	}
	var disk int64
	_ = filepath.Walk(data, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			disk += fi.Size()
		}
		return nil
	})
	if disk > quota {
		t.Fatalf("%d bytes on disk, over acme's quota of %d", disk, quota)
	}

	srv.Stop()
	ca := enginetest.Login(t, a.Addr().String(), "127.0.0.1", "alice", "secret")
	if code := replyCodeOf(ca.Stor("down.txt", bytes.NewReader([]byte("z")))); code != 451 {
		t.Fatalf("STOR with Redis down (quota fails closed): %d", code)
	}
	if err := ca.Delete("probe.txt"); replyCodeOf(err) != 550 {
		t.Fatalf("DELE with Redis down (policies fail open: the policy rules): %v", err)
	}
	srv.Restart()
	enginetest.Eventually(t, "uploads after Redis is back", func() bool {
		return ca.Stor("up.txt", bytes.NewReader([]byte("z"))) == nil
	})
}

// TestClusterPoliciesFailClosedNotReady: a gateway failing policies
// closed that starts while Redis is down refuses the tenant's commands
// (451) and is
// not ready, so that the balancer sends clients to the instances that
// can read the store; once Redis is back it is ready without a restart.
func TestClusterPoliciesFailClosedNotReady(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	g := startWith(t, clusterFiles(t, srv.Addr(), t.TempDir(), 0, "[cluster.fail]\npolicies = \"closed\"\n"), Options{})
	enginetest.Eventually(t, "serving", func() bool { return g.health.serving.Load() })
	if err := g.Ready(); err == nil || !strings.Contains(err.Error(), "policy store") {
		t.Fatalf("Ready with the policy store unreadable: %v", err)
	}
	c, code, msg := enginetest.Dial(t, g.Addr().String(), "")
	if code != 220 {
		t.Fatalf("banner: %d %s", code, msg)
	}
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	if code, msg := c.Cmd("MKD d"); code != 451 || !strings.Contains(msg, "cannot be read") {
		t.Fatalf("MKD with the policy store unreadable: %d %s", code, msg)
	}
	srv.Restart()
	enginetest.Eventually(t, "ready once Redis is back", func() bool { return g.Ready() == nil })
}
