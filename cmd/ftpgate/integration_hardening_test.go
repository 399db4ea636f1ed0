package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Integration tests of the hardening flags: TLS session reuse on data
// connections with lftp, curl and Python's ftplib, and client-certificate
// login with curl.

// ftplibNoReuse uploads over PROT P with ftplib, which cannot resume the
// control connection's TLS session on its data connections, and prints
// the reply it got.
const ftplibNoReuse = `
import ftplib, io, ssl, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = ftplib.FTP_TLS(context=ctx, timeout=20)
ftp.connect(host, port)
ftp.login(user, password)
ftp.prot_p()
try:
    ftp.storbinary("STOR py-noreuse.bin", io.BytesIO(b"x" * 100000))
    print("accepted")
except ftplib.error_perm as e:
    print("refused:", e)
except OSError as e:
    # The server may close the data connection while ftplib still
    # writes; its reply then waits on the control connection.
    try:
        ftp.getresp()
        print("accepted after", e)
    except ftplib.error_perm as e2:
        print("refused:", e2)
ftp.voidcmd("NOOP")
print("ok control still works")
ftp.quit()
`

func TestIntegrationTLSSessionReuse(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	python := requireTool(t, "python3")
	srv := startServer(t, "127.0.0.1", "--tls-session-reuse")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 2<<20+5, "reuse")
	auth := itUser + ":" + itPassword

	t.Run("lftp", func(t *testing.T) {
		out := filepath.Join(local, "lftp-back.bin")
		lftpScript(t, lftp, srv, true, "put "+src+" -o lftp-reuse.bin", "get lftp-reuse.bin -o "+out, "cls -l")
		sameFile(t, filepath.Join(srv.root, "lftp-reuse.bin"), sum)
		sameFile(t, out, sum)
	})

	t.Run("curl", func(t *testing.T) {
		// curl offers its session on data connections over TLS 1.3
		// only (engine.Settings.RequireTLSSessionReuse's note).
		tls13 := []string{"-sS", "-k", "--ssl-reqd", "--tlsv1.3", "-u", auth}
		runClient(t, curl, append(tls13, "-T", src, srv.url("ftp", "curl-reuse.bin"))...)
		sameFile(t, filepath.Join(srv.root, "curl-reuse.bin"), sum)
		out := filepath.Join(local, "curl-back.bin")
		runClient(t, curl, append(tls13, "-o", out, srv.url("ftp", "curl-reuse.bin"))...)
		sameFile(t, out, sum)
		// Implicit TLS too.
		runClient(t, curl, append(tls13, "-o", out+".implicit", srv.url("ftps", "curl-reuse.bin"))...)
		sameFile(t, out+".implicit", sum)
	})

	t.Run("ftplib-refused-with-reason", func(t *testing.T) {
		host, port := srv.hostPort()
		out := runClient(t, python, "-c", ftplibNoReuse, host, port, itUser, itPassword)
		if !strings.Contains(out, "refused: 522") || !strings.Contains(out, "session reuse required") {
			t.Fatalf("ftplib without session reuse:\n%s", out)
		}
		if !strings.Contains(out, "ok control still works") {
			t.Fatalf("the session did not go on:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(srv.root, "py-noreuse.bin")); err == nil {
			b, _ := os.ReadFile(filepath.Join(srv.root, "py-noreuse.bin"))
			if len(b) != 0 {
				t.Fatalf("the refused upload wrote %d bytes", len(b))
			}
		}
	})
}

func TestIntegrationCurlClientCertificate(t *testing.T) {
	curl := requireTool(t, "curl")
	pki := newTestPKI(t)
	_, certFile, keyFile := pki.client(t, itUser, false)
	srv := startServer(t, "127.0.0.1", "--tls-client-ca", pki.caFile)
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 300_000, "cert")

	// No password: the login can only succeed by the certificate (232).
	certAuth := []string{"-sS", "-k", "--ssl-reqd", "--cert", certFile, "--key", keyFile, "-u", itUser + ":"}
	runClient(t, curl, append(certAuth, "-T", src, srv.url("ftp", "by-cert.bin"))...)
	sameFile(t, filepath.Join(srv.root, "by-cert.bin"), sum)
	out := filepath.Join(local, "back.bin")
	runClient(t, curl, append(certAuth, "-o", out, srv.url("ftp", "by-cert.bin"))...)
	sameFile(t, out, sum)

	// The same command without the certificate is a password login with
	// an empty password, which fails.
	cmd := exec.Command(curl, "-sS", "-k", "--ssl-reqd", "-u", itUser+":", "-o", out, srv.url("ftp", "by-cert.bin"))
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "530") {
		t.Fatalf("without the certificate: err %v, output %s", err, b)
	}
}

// freePortRange finds n consecutive loopback ports that are free now.
func freePortRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for base := 41000 + os.Getpid()%2000*8; base < 65000-n; base += 97 {
		var held []net.Listener
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			held = append(held, ln)
		}
		ok := len(held) == n
		for _, ln := range held {
			_ = ln.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

func TestIntegrationPassiveMultiplex(t *testing.T) {
	curl := requireTool(t, "curl")
	lo, hi := freePortRange(t, 4)
	srv := startServer(t, "127.0.0.1", "--passive-ports", fmt.Sprintf("%d-%d", lo, hi), "--passive-multiplex")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 1<<20, "mux")
	auth := itUser + ":" + itPassword
	for _, mode := range [][]string{nil, {"--disable-epsv"}} {
		runClient(t, curl, append([]string{"-sS", "-u", auth, "-T", src, srv.url("ftp", "mux.bin")}, mode...)...)
		sameFile(t, filepath.Join(srv.root, "mux.bin"), sum)
		out := filepath.Join(local, "mux.bin")
		runClient(t, curl, append([]string{"-sS", "-u", auth, "-o", out, srv.url("ftp", "mux.bin")}, mode...)...)
		sameFile(t, out, sum)
	}
	// The data connection came from the shared range.
	verbose := runClient(t, curl, "-sS", "-v", "-u", auth, "-o", filepath.Join(local, "v.bin"), srv.url("ftp", "mux.bin"))
	m := regexp.MustCompile(`229 [^\n]*\(\|\|\|(\d+)\|\)`).FindStringSubmatch(verbose)
	if m == nil {
		t.Fatalf("no EPSV reply in curl's output:\n%s", verbose)
	}
	if p, _ := strconv.Atoi(m[1]); p < lo || p > hi {
		t.Fatalf("EPSV port %d outside %d-%d", p, lo, hi)
	}
}
