package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

const exampleWasm = "../../examples/policies/wat/example.wasm"

func runPolicy(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"policy"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	trap := filepath.Join(t.TempDir(), "trap.wasm")
	if err := os.WriteFile(trap, testmod.Trap(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"check", exampleWasm, "--verb", "DELE", "--path", "/a.exe", "--user", "alice"}, 0, "deny 550 deletion is disabled by policy\n"},
		{[]string{"check", "--verb", "stor", "--path", "/a", exampleWasm}, 0, "allow (uploads capped at 1048576 bytes)\n"},
		{[]string{"check", exampleWasm, "--verb", "RETR", "--path", "/a"}, 0, "allow (not subscribed to RETR; the module is not called)\n"},
		{[]string{"check", exampleWasm, "--verb", "DELE", "--json"}, 0, `"subscribed": true`},
		{[]string{"check", exampleWasm, "--verb", "DELE", "--path", "/a", "--user", "bob", "--login", "bob@acme", "--home", "/bob",
			"--tenant-path", "/bob/a", "--json"}, 0, `"code": 550`},
		{[]string{"check", exampleWasm, "--verb", "RNTO", "--path", "/a", "--other-path", "/b", "--tenant-path", "/h/a"}, 2, ""},
		{[]string{"check", trap, "--verb", "DELE"}, 1, "deny 451 Requested action aborted"},
		{[]string{"check", trap, "--verb", "DELE", "--on-error", "allow"}, 1, "allow\npolicy error: wasm error: unreachable"},
	} {
		code, out, errOut := runPolicy(t, c.args...)
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("%v: exit %d, stdout %q (stderr %q); want %d and %q", c.args, code, out, errOut, c.code, c.out)
		}
	}
}

func TestPolicyInspect(t *testing.T) {
	t.Parallel()
	code, out, _ := runPolicy(t, "inspect", exampleWasm)
	for _, want := range []string{"abi:           v1", "subscriptions: DELE,STOR", "exports:       ftpp_abi_v1 ftpp_alloc ftpp_check ftpp_subscriptions"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("inspect: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	code, out, _ = runPolicy(t, "inspect", "--json", exampleWasm)
	if code != 0 || !strings.Contains(out, `"subscriptions": [`) {
		t.Errorf("inspect --json: %d %s", code, out)
	}
}

func TestPolicyCommandErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, testmod.Broken(testmod.ForbiddenImport), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "Usage"},
		{[]string{"frob"}, 2, `unknown command "frob"`},
		{[]string{"check", exampleWasm}, 2, "--verb is required"},
		{[]string{"check", "--verb", "DELE"}, 2, "missing FILE.wasm"},
		{[]string{"check", exampleWasm, "--verb", "DELE", "--path", "../x"}, 2, "not absolute"},
		{[]string{"check", exampleWasm, "--verb", "DELE", "--on-error", "maybe"}, 2, "want deny or allow"},
		// One grammar with the admin API's dry run (policy.CheckRequest).
		{[]string{"check", exampleWasm, "--verb", "DELE", "--home", "../x"}, 2, "home: "},
		{[]string{"check", exampleWasm, "--verb", "TOOLONGVERB"}, 2, "verb: want a command name"},
		{[]string{"inspect", bad}, 1, "import env.system is not allowed"},
		{[]string{"inspect", "/nonexistent.wasm"}, 1, "no such file"},
	} {
		code, _, errOut := runPolicy(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}
