package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/tenancy"
)

// The tenancy integration tests run `ftpgate serve --config` over two
// tenants that both have a user alice, and drive it with curl, lftp and
// Python's ftplib. Like the other integration tests they skip without a
// client, unless FTPGATE_INTEGRATION=1, where they fail.

// tenantServer is a running `ftpgate serve --config`.
type tenantServer struct {
	*serveProc
	dir  string // config directory; tenants' data below data/
	addr string
}

// itHash returns a cheap argon2id hash: the real format, test-sized cost.
func itHash(t *testing.T, pass string) string {
	t.Helper()
	h, err := tenancy.HashPasswordArgon2id(pass, tenancy.Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// writeTenantConfig writes a server file and the tenants acme (host names
// localhost and ftp.acme.test) and globex. No default tenant: a login
// must name its tenant by HOST, SNI or user@tenant.
func writeTenantConfig(t *testing.T, dir string, globexExtra string) {
	t.Helper()
	files := map[string]string{
		"server.toml": `
[listen]
control = "127.0.0.1:0"
[timeouts]
login_failure_delay = "100ms"
[log]
level = "debug"
[tenants]
dir = "tenants"
`,
		"tenants/acme.toml": fmt.Sprintf(`
id = "acme"
hostnames = ["localhost", "ftp.acme.test"]
[storage]
backend = "os"
dir = "../data/acme"
[[users]]
name = "alice"
password = %q
`, itHash(t, "acme-pw")),
		"tenants/globex.toml": fmt.Sprintf(`
id = "globex"
hostnames = ["ftp.globex.test"]
[storage]
backend = "os"
dir = "../data/globex"
[[users]]
name = "alice"
password = %q
%s`, itHash(t, "globex-pw"), globexExtra),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startTenantServer runs the binary on a fresh tenant configuration;
// serverExtra, if any, is appended to the server file.
func startTenantServer(t *testing.T, serverExtra ...string) *tenantServer {
	t.Helper()
	bin := ftpgateBinary(t)
	s := &tenantServer{dir: t.TempDir()}
	writeTenantConfig(t, s.dir, "")
	if len(serverExtra) > 0 {
		f, err := os.OpenFile(filepath.Join(s.dir, "server.toml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString(strings.Join(serverExtra, "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s.serveProc = startServeProc(t, exec.Command(bin, "serve", "--config", filepath.Join(s.dir, "server.toml")), true, func(line string) bool {
		m := listeningLine.FindStringSubmatch(line)
		if m != nil && m[1] == "listening on" {
			s.addr = m[2]
		}
		return s.addr != ""
	})
	return s
}

// waitLog waits, within a bound, for text to appear in the server's log
// for the n-th time.
func (s *tenantServer) waitLog(t *testing.T, text string, n int) {
	t.Helper()
	deadline := time.After(itTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for strings.Count(s.stderr.String(), text) < n {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the server never logged %q %d times", text, n)
		}
	}
}

// runClientFails runs a client that must fail, returning its output.
func runClientFails(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want a failure\n%s", name, strings.Join(args, " "), out)
	}
	return string(out)
}

func TestIntegrationTenancyCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startTenantServer(t)
	src := filepath.Join(t.TempDir(), "c.txt")
	if err := os.WriteFile(src, []byte("curl via user@tenant\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runClient(t, curl, "-sS", "--max-time", "30", "-u", "alice@acme:acme-pw", "-T", src, "ftp://"+s.addr+"/")
	got, err := os.ReadFile(filepath.Join(s.dir, "data/acme/c.txt"))
	if err != nil || string(got) != "curl via user@tenant\n" {
		t.Fatalf("acme's copy: %q %v", got, err)
	}
	list := runClient(t, curl, "-sS", "--max-time", "30", "-u", "alice@globex:globex-pw", "ftp://"+s.addr+"/")
	if strings.Contains(list, "c.txt") {
		t.Fatalf("globex's alice sees acme's file:\n%s", list)
	}
	// Each alice's password only opens her own tenant.
	out := runClientFails(t, curl, "-sS", "--max-time", "30", "-u", "alice@globex:acme-pw", "ftp://"+s.addr+"/")
	if !strings.Contains(out, "530") {
		t.Fatalf("wrong tenant's password: %s", out)
	}
}

func TestIntegrationTenancyLftpHost(t *testing.T) {
	lftp := requireTool(t, "lftp")
	s := startTenantServer(t)
	_, port, _ := net.SplitHostPort(s.addr)
	src := filepath.Join(t.TempDir(), "l.txt")
	if err := os.WriteFile(src, []byte("lftp via HOST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// lftp sends HOST with the name it connected to when FEAT lists HOST;
	// "localhost" is one of acme's host names, and the login names no
	// tenant, so only HOST can have chosen acme.
	script := "set net:max-retries 1; set net:timeout 15; set cmd:fail-exit yes; set dns:order inet; set ftp:ssl-allow no; " +
		"open -u alice,acme-pw -p " + port + " ftp://localhost; put " + src + " -o l.txt; bye"
	runClient(t, lftp, "-c", script)
	got, err := os.ReadFile(filepath.Join(s.dir, "data/acme/l.txt"))
	if err != nil || string(got) != "lftp via HOST\n" {
		t.Fatalf("acme's copy: %q %v", got, err)
	}
	// Over TLS, lftp's SNI and HOST both say localhost: they agree.
	tlsScript := strings.Replace(script, "set ftp:ssl-allow no", "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no", 1)
	tlsScript = strings.Replace(tlsScript, "-o l.txt", "-o l-tls.txt", 1)
	runClient(t, lftp, "-c", tlsScript)
	if got, err := os.ReadFile(filepath.Join(s.dir, "data/acme/l-tls.txt")); err != nil || string(got) != "lftp via HOST\n" {
		t.Fatalf("acme's TLS copy: %q %v", got, err)
	}
}

func TestIntegrationTenancyFtplibAndReload(t *testing.T) {
	python := requireTool(t, "python3")
	s := startTenantServer(t)
	host, port, _ := net.SplitHostPort(s.addr)
	script := `
import ftplib, io, sys
host, port, user, pw, name = sys.argv[1:6]
ftp = ftplib.FTP()
ftp.connect(host, int(port), timeout=20)
ftp.login(user, pw)
ftp.storbinary("STOR " + name, io.BytesIO(b"ftplib data"))
ftp.quit()
print("ok")
`
	runClient(t, python, "-c", script, host, port, "alice@globex", "globex-pw", "p.bin")
	got, err := os.ReadFile(filepath.Join(s.dir, "data/globex/p.bin"))
	if err != nil || string(got) != "ftplib data" {
		t.Fatalf("globex's copy: %q %v", got, err)
	}

	// An invalid configuration is rejected whole; the old one stays.
	bad := filepath.Join(s.dir, "tenants/broken.toml")
	if err := os.WriteFile(bad, []byte("id = \"broken\"\nunknown = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "reload rejected", 1)
	runClient(t, python, "-c", script, host, port, "alice@globex", "globex-pw", "p2.bin")

	// A valid one that disables globex's alice applies to the next login.
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	writeTenantConfig(t, s.dir, "disabled = true\n")
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded", 1)
	out := runClientFails(t, python, "-c", script, host, port, "alice@globex", "globex-pw", "p3.bin")
	if !strings.Contains(out, "530") {
		t.Fatalf("disabled user: %s", out)
	}
	runClient(t, python, "-c", script, host, port, "alice@acme", "acme-pw", "p4.bin")
}
