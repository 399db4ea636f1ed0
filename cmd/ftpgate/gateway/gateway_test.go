package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/internal/servetest"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/internal/logbuf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/tenancy"
	"github.com/jlaffaye/ftp"
)

// files writes a server file and one tenant file ("acme", memory storage,
// user alice with password "secret") in a temp dir; extra is appended to
// the server file and user to alice's entry.
type files struct {
	dir, server, tenant, hash string
	tenantExtra               string // top-level keys of the tenant file
}

func newFiles(t *testing.T) *files {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tenants"), 0o700); err != nil {
		t.Fatal(err)
	}
	hash, err := tenancy.HashPasswordArgon2id("secret", tenancy.Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	return &files{dir: dir, server: filepath.Join(dir, "server.toml"), tenant: filepath.Join(dir, "tenants", "acme.toml"), hash: hash}
}

func (f *files) write(t *testing.T, extra, user string) {
	t.Helper()
	server := "[listen]\ncontrol = \"127.0.0.1:0\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n" + extra
	tenant := fmt.Sprintf("id = \"acme\"\n%s[storage]\nbackend = \"memory\"\n[[users]]\nname = \"alice\"\npassword = %q\n%s", f.tenantExtra, f.hash, user)
	if err := os.WriteFile(f.server, []byte(server), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.tenant, []byte(tenant), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer = logbuf.Buffer

// start loads the files and runs a gateway until the test ends.
func start(t *testing.T, f *files, logs io.Writer) *Gateway {
	t.Helper()
	return startWith(t, f, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
}

// newGateway loads f's server file and makes a gateway of it, not yet
// running, with opts (a nil Logger discards the logs); it returns the
// loaded configuration too.
func newGateway(t *testing.T, f *files, opts Options) (*Gateway, Config) {
	t.Helper()
	cfg, err := Load(f.server)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g, cfg
}

// runGateway runs g in the background; Run's result arrives on the
// channel (buffered: the goroutine never blocks on it).
func runGateway(g *Gateway) <-chan error {
	ran := make(chan error, 1)
	go func() { ran <- g.Run(context.Background()) }()
	return ran
}

// startWith is start with opts (a nil Logger discards the logs).
func startWith(t *testing.T, f *files, opts Options) *Gateway {
	t.Helper()
	g, _ := newGateway(t, f, opts)
	servetest.Serve(t, g.Run, g.Shutdown)
	return g
}

// stopGateway shuts g down, giving its sessions 10 s, and waits for Run
// (ran, from runGateway); an error of either fails t.
func stopGateway(t *testing.T, g *Gateway, ran <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestServeReloadShutdown: a gateway from a server file serves its
// tenant's user; Reload takes a disabled user at once (530), refuses an
// invalid configuration whole, and reports keys that need a restart;
// Shutdown makes Run return nil.
func TestServeReloadShutdown(t *testing.T) {
	f := newFiles(t)
	f.write(t, "[commands]\nhash = true\n", "")
	logs := &syncBuffer{}
	g := start(t, f, logs)
	addr := g.Addr().String()

	c := enginetest.Login(t, addr, "127.0.0.1", "alice", "secret")
	if err := c.Stor("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	// [commands] hash = true reached the engine.
	feat, _, _ := enginetest.Dial(t, addr, "127.0.0.1")
	if msg := feat.Expect("FEAT", 211); !strings.Contains(msg, "HASH") {
		t.Fatalf("FEAT without HASH: %q", msg)
	}

	f.write(t, "[commands]\nhash = true\n[passive]\nports = \"50000-50010\"\n", "disabled = true\n")
	next, err := Load(f.server)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !strings.Contains(logs.String(), "keys=[passive]") {
		t.Errorf("the passive change was not reported as needing a restart:\n%s", logs.String())
	}
	cl, err := ftp.Dial(addr, ftp.DialWithTimeout(enginetest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Quit()
	if err := cl.Login("alice", "secret"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("login of a disabled user: %v, want 530", err)
	}

	bad := next
	bad.Tenancy = &tenancy.Config{File: f.server, Server: next.TenancyServer(), Tenants: []*tenancy.TenantConfig{{ID: "x", Storage: tenancy.StorageConfig{Backend: "nowhere"}}}}
	if err := g.Reload(bad); err == nil {
		t.Fatal("Reload took a tenant with an unknown backend")
	}
}

// TestRestartNeeded names the sections a running gateway keeps.
func TestRestartNeeded(t *testing.T) {
	a := Default()
	b := a
	b.Listen.Control = "127.0.0.1:21"
	b.Log.Level = "debug"
	b.Limits.ConnRate = 5 // changes live
	if got := RestartNeeded(a, b); !slices.Equal(got, []string{"listen", "log"}) {
		t.Fatalf("got %v", got)
	}
}
