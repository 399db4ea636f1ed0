package policy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

type memDriver struct{ fs afero.Fs }

func (d *memDriver) GetSettings() (*engine.Settings, error) {
	return &engine.Settings{ListenAddr: "127.0.0.1:0"}, nil
}
func (d *memDriver) ClientConnected(engine.ClientContext) (string, error) { return "hi", nil }
func (d *memDriver) ClientDisconnected(engine.ClientContext)              {}
func (d *memDriver) GetTLSConfig() (*tls.Config, error)                   { return nil, nil }
func (d *memDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if pass == "pw" {
		return d.fs, nil
	}
	return nil, errors.New("bad login")
}

// serveWithPolicy runs an engine.Server whose every session belongs to
// tenant "t" of rt.
func serveWithPolicy(t testing.TB, rt *Runtime, fs afero.Fs) string {
	t.Helper()
	h := NewHooks(rt, func(engine.ClientContext) string { return "t" })
	srv := &engine.Server{Driver: &memDriver{fs: fs}, Logger: slog.New(slog.DiscardHandler)}
	h.Install(srv)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return srv.Addr().String()
}

func login(t testing.TB, addr string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	return c
}

func protoCode(err error) (int, string) {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg
	}
	return 0, ""
}

// TestHooksDenyCapRewrite: through a real server, a client sees the
// policy's code and message, an upload past the cap ends 552 with only the
// capped bytes on disk, and a rewrite stores where the policy says.
func TestHooksDenyCapRewrite(t *testing.T) {
	t.Parallel()
	rt, _ := newTestRuntime(t, Config{})
	fs := afero.NewMemMapFs()
	_ = afero.WriteFile(fs, "/keep.txt", []byte("x"), 0o644)
	addr := serveWithPolicy(t, rt, fs)
	rt.Install("t", mustCompile(t, rt, testmod.Example()), Settings{})
	c := login(t, addr)

	err := c.Delete("/keep.txt")
	if code, msg := protoCode(err); code != 550 || msg != testmod.DenyMessage {
		t.Fatalf("DELE: %v", err)
	}
	if ok, _ := afero.Exists(fs, "/keep.txt"); !ok {
		t.Fatal("the denied DELE deleted the file")
	}
	small := bytes.Repeat([]byte("a"), 1000)
	if err := c.Stor("/small.bin", bytes.NewReader(small)); err != nil {
		t.Fatalf("STOR under the cap: %v", err)
	}
	big := bytes.Repeat([]byte("b"), testmod.ExampleCap+4096)
	err = c.Stor("/big.bin", bytes.NewReader(big))
	if code, _ := protoCode(err); code != 552 {
		t.Fatalf("STOR over the cap: %v", err)
	}
	if fi, err := fs.Stat("/big.bin"); err != nil || fi.Size() > testmod.ExampleCap {
		t.Fatalf("big.bin on disk: %v, %v", fi, err)
	}
	// The cap does not leak into the next upload of another verb.
	if err := c.Append("/big.bin", bytes.NewReader(big)); err != nil {
		t.Fatalf("APPE (not subscribed, no cap): %v", err)
	}

	// Swap to a rewriting policy under the live session.
	resp := abi.AppendResponse(nil, &abi.Response{Action: abi.ActionRewrite, NewPath: "/quarantine/x.bin", HasNewPath: true})
	rt.Install("t", mustCompile(t, rt, testmod.Respond(resp, "STOR")), Settings{})
	_ = fs.MkdirAll("/quarantine", 0o755)
	if err := c.Stor("/incoming.bin", strings.NewReader("payload")); err != nil {
		t.Fatalf("rewritten STOR: %v", err)
	}
	if b, err := afero.ReadFile(fs, "/quarantine/x.bin"); err != nil || string(b) != "payload" {
		t.Fatalf("rewritten file: %q, %v", b, err)
	}
	if ok, _ := afero.Exists(fs, "/incoming.bin"); ok {
		t.Fatal("the original path was written too")
	}
	// DELE is no longer subscribed by the new policy.
	if err := c.Delete("/keep.txt"); err != nil {
		t.Fatalf("DELE after swap: %v", err)
	}
}

// TestHooksFailingPolicy: a looping policy answers 451 within the
// deadline and the session goes on.
func TestHooksFailingPolicy(t *testing.T) {
	t.Parallel()
	rt, _ := newTestRuntime(t, Config{CallTimeout: 20 * time.Millisecond})
	addr := serveWithPolicy(t, rt, afero.NewMemMapFs())
	c := login(t, addr)
	rt.Install("t", mustCompile(t, rt, testmod.Loop()), Settings{})
	err := c.MakeDir("/d")
	if code, msg := protoCode(err); code != 451 || !strings.Contains(msg, "local error in processing") {
		t.Fatalf("MKD: %v", err)
	}
	rt.Remove("t")
	if err := c.MakeDir("/d"); err != nil {
		t.Fatalf("MKD after removal: %v", err)
	}
}

// TestHooksAliasesReachSubscriptions: a policy subscribed to RMD and
// MFMT also rules on XRMD and on MDTM with a time (which sets it), and on
// SITE RMDIR once subscribed to SITE; a client cannot step around it by
// spelling the command another way.
func TestHooksAliasesReachSubscriptions(t *testing.T) {
	t.Parallel()
	rt, _ := newTestRuntime(t, Config{})
	fs := afero.NewMemMapFs()
	_ = fs.MkdirAll("/d", 0o755)
	_ = afero.WriteFile(fs, "/f", []byte("x"), 0o644)
	addr := serveWithPolicy(t, rt, fs)
	rt.Install("t", mustCompile(t, rt, testmod.Respond(testmod.DenyResponse(550, "no"), "RMD,MFMT")), Settings{})

	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expect := func(line string, want int) {
		t.Helper()
		if err := c.PrintfLine("%s", line); err != nil {
			t.Fatal(err)
		}
		code, msg, err := c.ReadResponse(0)
		if code != want {
			t.Fatalf("%s: %d %s %v, want %d", line, code, msg, err, want)
		}
	}
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	expect("USER alice", 331)
	expect("PASS pw", 230)
	expect("XRMD /d", 550)
	expect("RMD /d", 550)
	expect("MDTM 20200101000000 /f", 550)
	expect("MDTM /f", 213) // reading the time is not MFMT
	if ok, _ := afero.DirExists(fs, "/d"); !ok {
		t.Fatal("the directory went")
	}
	rt.Install("t", mustCompile(t, rt, testmod.Respond(testmod.DenyResponse(550, "no"), "SITE")), Settings{})
	expect("SITE RMDIR /d", 550)
	expect("XRMD /d", 250) // no longer subscribed
}

// TestHooksTenantPathsReachThePolicy: with TenantPath set, the shipped
// read-only-paths policy judges where a command lands: a path through a
// link (stubbed: /r is a link to the tenant's /archive) is refused like
// the direct one, through a real client. Without TenantPath the policy
// falls back to the session path.
func TestHooksTenantPathsReachThePolicy(t *testing.T) {
	t.Parallel()
	wasm := builder.Build(t, "../examples/policies/read-only-paths")
	for _, mapped := range []bool{true, false} {
		// A Go guest under -race on a loaded runner: deadlines as upper
		// bounds, far above the defaults, since none is under test here.
		rt, _ := newTestRuntime(t, Config{CallTimeout: 10 * time.Second, InitTimeout: 30 * time.Second})
		rt.Install("t", mustCompile(t, rt, wasm), Settings{})
		h := NewHooks(rt, func(engine.ClientContext) string { return "t" })
		h.Identity = func(engine.ClientContext) (string, string) { return "t", "alice" }
		if mapped {
			h.TenantPath = func(_ engine.ClientContext, name string) (string, error) {
				if rest, ok := strings.CutPrefix(name, "/r/"); ok {
					return "/archive/" + rest, nil
				}
				return name, nil
			}
		}
		fs := afero.NewMemMapFs()
		_ = fs.MkdirAll("/r", 0o755)
		srv := &engine.Server{Driver: &memDriver{fs: fs}, Logger: slog.New(slog.DiscardHandler)}
		srv.CommandHooks = append(srv.CommandHooks, h.Command)
		if err := srv.Listen(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.ListenAndServe() }()
		c := login(t, srv.Addr().String())
		err := c.Stor("/r/x", strings.NewReader("x"))
		code, msg := protoCode(err)
		switch {
		case mapped && (code != 550 || msg != "/archive is read-only."):
			t.Errorf("STOR through the link: %v, want 550 /archive is read-only.", err)
		case !mapped && err != nil:
			t.Errorf("STOR without tenant paths: %v, want the session path judged (allowed)", err)
		}
		if err := c.Stor("/elsewhere", strings.NewReader("x")); err != nil {
			t.Errorf("STOR elsewhere: %v", err)
		}
		_ = c.Quit()
		_ = srv.Close()
		<-done
	}
}

// TestHooksInstall: Install adds the command and transfer hooks and no
// admission hook: the pending cap is a session value, gone with the session.
func TestHooksInstall(t *testing.T) {
	t.Parallel()
	srv := &engine.Server{}
	NewHooks(nil, nil).Install(srv)
	if len(srv.CommandHooks) != 1 || len(srv.TransferHooks) != 1 || len(srv.AdmissionHooks) != 0 {
		t.Fatalf("hooks: %d command, %d transfer, %d admission; want 1, 1, 0",
			len(srv.CommandHooks), len(srv.TransferHooks), len(srv.AdmissionHooks))
	}
}
