package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// serveFlagNames lists the flags of `ftpgate serve`, read from its help.
func serveFlagNames(t *testing.T) []string {
	t.Helper()
	var help bytes.Buffer
	if _, err := parseServeFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) < 40 {
		t.Fatalf("only %d flags read from the help:\n%s", len(names), help.String())
	}
	return names
}

// TestEveryFlagHasAKey: every serve flag has a server-file key or a
// written reason, every key named exists, and every key has a flag or a
// reason (the fine limits and override tables of [limits] are file-only).
func TestEveryFlagHasAKey(t *testing.T) {
	keys := gateway.Keys()
	flagged := map[string]bool{}
	for _, name := range serveFlagNames(t) {
		key, ok := flagKeys[name]
		switch {
		case !ok:
			t.Errorf("--%s has neither a key nor a reason in flagKeys", name)
		case strings.HasPrefix(key, "-: "):
		case !slices.Contains(keys, key):
			t.Errorf("--%s: key %q is not in the server file's schema", name, key)
		default:
			flagged[key] = true
		}
	}
	for _, key := range keys {
		if !flagged[key] && keysWithoutFlag[key] == "" && !strings.HasPrefix(key, "limits.") {
			t.Errorf("key %s has no flag and no reason in keysWithoutFlag", key)
		}
	}
}

// TestFlagModeThroughGateway: the flags' gateway.Config serves --root as
// the one tenant's storage on the os.Root jail: a --user logs in, an
// upload lands in --root, HASH is offered with --enable-hash, AVBL
// reports the disk's free space.
func TestFlagModeThroughGateway(t *testing.T) {
	root := t.TempDir()
	flags, err := parseServeFlags([]string{"--listen", "127.0.0.1:0", "--root", root, "--user", "u:pw", "--enable-hash", "--limit-login-delay", "0s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.gatewayConfig(flags.users)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- g.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		<-ran
	})
	addr := g.Addr().String()
	c := enginetest.Login(t, addr, "127.0.0.1", "u", "pw")
	if err := c.Stor("up.txt", strings.NewReader("flag mode")); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "up.txt")); err != nil || string(b) != "flag mode" {
		t.Fatalf("on disk: %q, %v", b, err)
	}
	raw, _, _ := enginetest.Dial(t, addr, "127.0.0.1")
	if msg := raw.Expect("FEAT", 211); !strings.Contains(msg, "HASH") {
		t.Fatalf("FEAT without HASH: %q", msg)
	}
	raw.Expect("USER u", 331)
	raw.Expect("PASS pw", 230)
	raw.Expect("AVBL", 213)
}

// flagConfig is the gateway.Config the serve flags args ask for, without
// tenants.
func flagConfig(args []string) (gateway.Config, error) {
	flags, err := parseServeFlags(args, io.Discard)
	if err != nil {
		return gateway.Config{}, err
	}
	return flags.Config, nil
}

// TestFlagErrorsNameFlags: a key in a validation error or in any other
// error becomes its flag, as a whole word only: a path or a longer name
// that contains a key stays as written.
func TestFlagErrorsNameFlags(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{conf.Errors{{Key: "admin.listen", Msg: `"0.0.0.0:1" is not a loopback address; serving tokens in clear text needs admin.tls_cert and admin.tls_key`}},
			`--admin-listen: "0.0.0.0:1" is not a loopback address; serving tokens in clear text needs --admin-tls-cert and --admin-tls-key`},
		{conf.Errors{{Key: "tls.cert", Msg: `cannot read "/etc/tls.cert": want a readable PEM file`}, {Key: "passive.multiplex", Msg: "needs passive.ports."}},
			"--tls-cert: cannot read \"/etc/tls.cert\": want a readable PEM file\n--passive-multiplex: needs --passive-ports."},
		{errors.New("admin.token_file: open /x/admin.token_file: no such file or directory"), "--admin-token-file: open /x/admin.token_file: no such file or directory"},
		{conf.Errors{{Key: "limits.conn_per_ip", Msg: "want a number >= 0"}, {Key: "tls", Msg: "tls.cert.pem and my-tls.cert stay; «tls.key» goes"}},
			"--limit-conn-per-ip: want a number >= 0\ntls: tls.cert.pem and my-tls.cert stay; «--tls-key» goes"},
	} {
		if got := flagErrors(tc.err); got == nil || got.Error() != tc.want {
			t.Errorf("flagErrors(%q)\n= %v\nwant %s", tc.err, got, tc.want)
		}
	}
	if flagErrors(nil) != nil {
		t.Error("flagErrors(nil) != nil")
	}
}
