package tenancy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
)

// helperEnv makes the test binary run TestServeHelper as a server process
// for the tests that need one they can kill or run as another user.
const (
	helperEnv       = "FTPGATE_TENANCY_TEST_HELPER"
	helperConfigEnv = "FTPGATE_TENANCY_TEST_CONFIG"
)

// TestServeHelper is the server process of the tests below: it loads the
// configuration named by helperConfigEnv, serves on 127.0.0.1 (printing
// "ADDR host:port" on stdout), logs as JSON on stderr, and exits when its
// stdin closes, so it never outlives its test.
func TestServeHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "serve" {
		t.Skip("runs only as a helper process")
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := LoadConfig(os.Getenv(helperConfigEnv))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	d, err := New(cfg, Options{Logger: log})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	srv := &engine.Server{Driver: d, Logger: log}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("ADDR", ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	_ = d.Close()
	os.Exit(0)
}

// serverProcess is a running TestServeHelper.
type serverProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string

	mu   sync.Mutex
	logs []map[string]any
	more chan struct{} // signalled on each log line
}

// startServerProcess runs the test binary (bin, or this one) as a server
// over the configuration in dir, as cred's user when cred is not nil.
func startServerProcess(t *testing.T, dir, bin string, cred *syscall.Credential) *serverProcess {
	t.Helper()
	if bin == "" {
		bin = os.Args[0]
	}
	cmd := exec.Command(bin, "-test.run=^TestServeHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=serve", helperConfigEnv+"="+filepath.Join(dir, "server.toml"))
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, stdin: stdin, more: make(chan struct{}, 1)}
	t.Cleanup(p.stop)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			p.mu.Lock()
			p.logs = append(p.logs, rec)
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "ADDR "); ok {
				addr <- a
			} else if strings.HasPrefix(line, "ERROR") {
				addr <- line
			}
		}
		close(addr)
	}()
	select {
	case a := <-addr:
		if a == "" || strings.HasPrefix(a, "ERROR") {
			t.Fatalf("server process did not start: %q", a)
		}
		p.addr = a
	case <-time.After(30 * time.Second):
		t.Fatal("server process did not print its address within 30s")
	}
	return p
}

// stop ends the process (closing stdin) and waits for it.
func (p *serverProcess) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// kill ends the process with SIGKILL and waits for it.
func (p *serverProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// waitLog waits (at most 30 s) for a log record for which match holds,
// and returns it.
func (p *serverProcess) waitLog(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		logs := p.logs[seen:]
		seen = len(p.logs)
		p.mu.Unlock()
		for _, rec := range logs {
			if match(rec) {
				return rec
			}
		}
		select {
		case <-p.more:
		case <-deadline.C:
			t.Fatalf("no log line for %s within 30s", what)
		}
	}
}

// logIs matches a record by message and tenant.
func logIs(msg, tenant string) func(map[string]any) bool {
	return func(rec map[string]any) bool {
		return rec["msg"] == msg && (tenant == "" || rec["tenant"] == tenant)
	}
}

// writeConfig writes files below a new directory and returns it.
func writeConfig(t *testing.T, files map[string]string) *fixture {
	f := &fixture{t: t, dir: t.TempDir()}
	for name, content := range files {
		f.writeFile(name, content)
	}
	return f
}

// TestKilledServerLeavesAcknowledgedFile: a server killed with SIGKILL in
// the middle of an overwrite leaves the old, acknowledged file whole; the
// next start removes the upload's temporary file and does not count it.
func TestKilledServerLeavesAcknowledgedFile(t *testing.T) {
	t.Parallel()
	f := writeConfig(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	p := startServerProcess(t, f.dir, "", nil)
	f.addr = p.addr
	p.waitLog(t, "acme's usage count", logIs("tenancy: storage use counted", "acme"))
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	b := f.mustLogin("alice@acme", "acme-alice")
	old := pattern(100_000, 1)
	if err := b.Stor("report.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	a := f.startUpload(f.rawLogin(), "STOR", "report.bin")
	a.send(pattern(1000, 2))
	waitFor(t, "the upload's bytes on disk", func() bool { return uploadLanded(t, target, 1000) })
	p.kill()

	assertFile(t, "report.bin after kill -9", target, old)
	if left := tempFiles(t, filepath.Dir(target)); len(left) != 1 {
		t.Fatalf("temporary files after kill -9: %v, want the one of the upload", left)
	}

	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitCounts(t, d)
	if left := tempFiles(t, filepath.Dir(target)); len(left) != 0 {
		t.Fatalf("temporary files after the next start: %v", left)
	}
	used, files := d.state.Load().tenants["acme"].storage.usage.snapshot()
	if used != int64(len(old)) || files != 2 {
		t.Fatalf("counted at the next start: %d bytes, %d entries; want %d, 2", used, files, len(old))
	}
	assertFile(t, "report.bin after the next start", target, old)
}

// deepTreeLevels is how deep TestStartWithHostileTrees nests directories:
// far past PATH_MAX, so it is built one directory handle at a time.
const deepTreeLevels = 3000

// buildDeepTree makes levels nested directories "d" below dir, with a
// file "f" (5 bytes) at depth 10 and at the bottom, holding one directory
// handle at a time.
func buildDeepTree(t *testing.T, dir string, levels int) {
	t.Helper()
	cur, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cur.Close() }()
	for i := 1; i <= levels; i++ {
		if err := cur.Mkdir("d", 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := cur.OpenRoot("d")
		if err != nil {
			t.Fatal(err)
		}
		_ = cur.Close()
		cur = next
		if i == 10 || i == levels {
			if err := cur.WriteFile("f", []byte("deep!"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStartWithHostileTrees: what tenants stored cannot keep the server
// from starting. acme has a directory its owner cannot read (SITE CHMOD
// 000 from before modes were kept) and a 3,000-level tree; globex's whole
// directory lost its owner's permissions. The server serves both at once,
// counts what it can read in the background (skipping, with a log line,
// what it cannot or what is nested too deep) and gives globex's directory
// its permissions back. As root, the server runs as nobody, for whom the
// modes apply.
func TestStartWithHostileTrees(t *testing.T) {
	t.Parallel()
	f := writeConfig(t, map[string]string{
		"server.toml":         serverTOML(""),
		"tenants/acme.toml":   acmeTOML(t, "[quota]\nbytes = 1000000\n"),
		"tenants/globex.toml": globexTOML(t, ""),
	})
	acme := filepath.Join(f.dir, "data/acme")
	globex := filepath.Join(f.dir, "data/globex")
	f.writeFile("data/acme/alice/a.txt", "0123456789")
	f.writeFile("data/acme/private/secret", "not counted")
	buildDeepTree(t, filepath.Join(f.dir, "data/acme/alice"), deepTreeLevels)
	if err := os.MkdirAll(globex, 0o755); err != nil {
		t.Fatal(err)
	}

	var cred *syscall.Credential
	bin := ""
	if os.Geteuid() == 0 {
		const nobody = 65534
		cred = &syscall.Credential{Uid: nobody, Gid: nobody}
		// nobody must reach the configuration and run the test binary,
		// and owns the tenants' directories as ftpgate would.
		for d := f.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{acme, filepath.Join(acme, "alice"), filepath.Join(acme, "private"), globex} {
			if err := os.Chown(d, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		binDir := filepath.Join(f.dir, "bin")
		if err := os.Mkdir(binDir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(binDir, "tenancy.test")
		exe, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, exe, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(acme, "private"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(globex, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Chmod(filepath.Join(acme, "private"), 0o755)
		_ = os.Chmod(globex, 0o755)
	})

	p := startServerProcess(t, f.dir, bin, cred)
	f.addr = p.addr
	for _, login := range [][2]string{{"alice@acme", "acme-alice"}, {"alice@globex", "globex-alice"}} {
		c := f.mustLogin(login[0], login[1])
		if _, err := c.NameList("/"); err != nil {
			t.Fatalf("%s: NLST: %v", login[0], err)
		}
	}
	p.waitLog(t, "the skipped directory", func(rec map[string]any) bool {
		return rec["msg"] == "tenancy: usage count skips an entry it cannot read" && rec["path"] == "/private"
	})
	p.waitLog(t, "the tree nested too deep", logIs("tenancy: usage count did not enter directories nested too deep; their contents are not counted", "acme"))
	counted := p.waitLog(t, "acme's usage count", logIs("tenancy: storage use counted", "acme"))
	// a.txt and the file at depth 10; not the secret nor the bottom file.
	if got := counted["bytes"]; got != float64(10+5) {
		t.Fatalf("acme's bytes counted: %v, want 15", got)
	}
	p.waitLog(t, "globex's repaired directory", logIs("tenancy: the storage directory had lost its owner's permissions; they are restored", ""))
	p.waitLog(t, "globex's usage count", logIs("tenancy: storage use counted", "globex"))

	// Uploads go on once counted.
	c := f.mustLogin("alice@acme", "acme-alice")
	if err := c.Stor("new.txt", strings.NewReader("new")); err != nil {
		t.Fatalf("STOR after the count: %v", err)
	}
}
