package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCheckConfigAcceptsExamples(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "../../examples/tenants/server.toml"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "OK (2 tenants, 3 users)") {
		t.Fatalf("output %q", out.String())
	}
}

// TestCheckConfigListsEveryError: one run shows every problem with its
// file, line and key, and exits 1.
func TestCheckConfigListsEveryError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server.toml", "[listen]\ncontrol = \"nope\"\n[tenants]\ndir = \"t\"\ndefault = \"ghost\"\n[proxy_protocol]\nmode = \"sometimes\"\n")
	write("t/a.toml", "id = \"a\"\n[storage]\nbackend = \"disk\"\n[[users]]\nname = \"u\"\npassword = \"plaintext\"\nhomedir = \"/u\"\n")
	write("t/b.toml", "id = \"b\n")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", filepath.Join(dir, "server.toml")}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	for _, want := range []string{
		`server.toml:2: listen.control: "nope": want HOST:PORT`,
		`server.toml:7: proxy_protocol.mode: PROXY protocol mode "sometimes": want off, optional or required`,
		`a.toml:3: storage.backend: "disk": want "os"`,
		`a.toml:6: users[0].password: not a password hash`,
		`a.toml:7: users[0].homedir: unknown key`,
		`b.toml:1: `,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "plaintext") {
		t.Error("the password value was echoed")
	}
}

func TestHashPasswordMakesUsableHashes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"--algo", "bcrypt", "--bcrypt-cost", "4"}, {"--argon2-memory", "64", "--argon2-time", "1"}} {
		var out, errb bytes.Buffer
		if code := hashPassword(args, strings.NewReader("s3cret\n"), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errb.String())
		}
		hash := strings.TrimSpace(out.String())
		if !regexp.MustCompile(`^\$(argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$|2a\$04\$)`).MatchString(hash) {
			t.Fatalf("%v: hash %q", args, hash)
		}
	}
	var out, errb bytes.Buffer
	if code := hashPassword(nil, strings.NewReader(""), &out, &errb); code != 2 {
		t.Fatalf("empty stdin: exit %d", code)
	}
	if code := hashPassword([]string{"pw"}, strings.NewReader("x\n"), &out, &errb); code != 2 {
		t.Fatalf("password as an argument: exit %d", code)
	}
	for _, args := range [][]string{{"--argon2-memory", "4"}, {"--argon2-time", "65"}, {"--argon2-memory", "8589934592"}} {
		errb.Reset()
		if code := hashPassword(args, strings.NewReader("x\n"), &out, &errb); code != 2 || !strings.Contains(errb.String(), "out of range") {
			t.Errorf("%v: exit %d, %q; want 2 and the bounds", args, code, errb.String())
		}
	}
}

func TestServeConfigRefusesConflictingFlags(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", "x.toml", "--listen", "127.0.0.1:0"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "--listen cannot be combined with --config") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestServeConfigRefusesLimitFlags(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", "x.toml", "--limit-conn-rate", "5"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "set limits in the server file's [limits] section") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// TestServeConfigFlagsOverTheFile: with --config, the logging and
// [commands] flags and --shutdown-timeout are accepted and win over the
// file's values; flags not given leave the file's.
func TestServeConfigFlagsOverTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "t"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(file, []byte("[tenants]\ndir = \"t\"\n[log]\nformat = \"json\"\nlevel = \"error\"\n[commands]\ncomb = true\n[policy]\ntimeout = \"20ms\"\nmemory_pages = 128\n[admin]\nlisten = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags, err := parseServeFlags([]string{"--config", file, "--log-level", "debug", "--enable-hash", "--shutdown-timeout", "3s", "--policy-timeout", "30ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.loadConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "json" || !cfg.Commands.HASH || !cfg.Commands.COMB || time.Duration(cfg.Timeouts.Shutdown) != 3*time.Second {
		t.Fatalf("log %+v, commands %+v, shutdown %v", cfg.Log, cfg.Commands, cfg.Timeouts.Shutdown)
	}
	if p, a := cfg.Policy, cfg.Admin; time.Duration(p.Timeout) != 30*time.Millisecond || p.MemoryPages != 128 || a.Listen != "127.0.0.1:0" || p.Dir != "ftpgate-policies" {
		t.Fatalf("policy settings %+v %+v: want the flag's timeout, the file's pages and listener, the default dir", p, a)
	}
}
