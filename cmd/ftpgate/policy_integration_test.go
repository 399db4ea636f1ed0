package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// freeLoopbackPort finds a port for a flag that cannot take :0 and
// report back through the integration harness.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runClientFailing runs a client that is expected to fail (the policy
// refuses its command) and returns what it printed.
func runClientFailing(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("%s %s succeeded; the policy should have refused it\n%s", name, strings.Join(args, " "), out.String())
		}
	case <-time.After(itTimeout):
		_ = cmd.Process.Kill()
		t.Fatalf("%s: timed out\n%s", name, out.String())
	}
	return out.String()
}

// TestIntegrationPolicy: curl, lftp and ftplib see the policy's codes and
// messages; a policy swapped through the admin API under a live ftplib
// session rules on that session's next command.
func TestIntegrationPolicy(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	python := requireTool(t, "python3")
	example, err := filepath.Abs(exampleWasm)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	const token = "integration-operator-token"
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeLoopbackPort(t)
	srv := startServer(t, "127.0.0.1", "--policy", example, "--policy-dir", filepath.Join(dir, "policies"),
		"--admin-listen", admin, "--admin-token-file", tokenFile)
	if err := os.WriteFile(filepath.Join(srv.root, "keep.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	auth := itUser + ":" + itPassword
	const denial = "550 deletion is disabled by policy"

	t.Run("curl", func(t *testing.T) {
		out := runClientFailing(t, curl, "-v", "-u", auth, "-Q", "DELE keep.txt", srv.url("ftp", "/"))
		if !strings.Contains(out, denial) {
			t.Fatalf("curl did not show the denial:\n%s", out)
		}
		big := filepath.Join(t.TempDir(), "big.bin")
		writeFile(t, big, 2<<20, "policy")
		out = runClientFailing(t, curl, "-v", "-u", auth, "-T", big, srv.url("ftp", "big.bin"))
		if !strings.Contains(out, "552 Upload exceeds the size the tenant's policy allows") {
			t.Fatalf("curl did not show the 552:\n%s", out)
		}
		if fi, err := os.Stat(filepath.Join(srv.root, "big.bin")); err == nil && fi.Size() > testmod.ExampleCap {
			t.Fatalf("%d bytes stored past the 1 MiB cap", fi.Size())
		}
	})

	t.Run("lftp", func(t *testing.T) {
		host, port := srv.hostPort()
		script := "set net:max-retries 1; set net:timeout 15; set cmd:fail-exit yes; set ftp:ssl-allow no; " +
			"open -u " + itUser + "," + itPassword + " -p " + port + " ftp://" + host + "; rm keep.txt; bye"
		out := runClientFailing(t, lftp, "-c", script)
		if !strings.Contains(out, denial) {
			t.Fatalf("lftp did not show the denial:\n%s", out)
		}
	})
	if _, err := os.Stat(filepath.Join(srv.root, "keep.txt")); err != nil {
		t.Fatalf("a refused DELE deleted the file: %v", err)
	}

	t.Run("ftplib-swap", func(t *testing.T) {
		script, err := filepath.Abs(filepath.Join("testdata", "policy_ftplib.py"))
		if err != nil {
			t.Fatal(err)
		}
		host, port := srv.hostPort()
		cmd := exec.Command(python, script, host, port, itUser, itPassword)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		next := func() string {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("ftplib script ended early\n%s", stderr.String())
				}
				return l
			case <-time.After(itTimeout):
				t.Fatal("ftplib script stalled")
			}
			return ""
		}
		if l := next(); l != "denied1 "+denial {
			t.Fatalf("first policy: %q", l)
		}
		if l := next(); l != "swap" {
			t.Fatalf("want swap, got %q", l)
		}
		v2 := testmod.Respond(testmod.DenyResponse(553, "policy v2 forbids this"), "DELE,MKD")
		req, _ := http.NewRequest("PUT", "http://"+admin+"/v1/tenants/default/policy", bytes.NewReader(v2))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		_, _ = io.WriteString(stdin, "go\n")
		if l := next(); l != "denied2 553 policy v2 forbids this" {
			t.Fatalf("after the swap: %q", l)
		}
	})
}
