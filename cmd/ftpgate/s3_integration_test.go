package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/tenancy/s3test"
	"github.com/minio/minio-go/v7"
)

// The object-storage integration tests run SeaweedFS's `weed mini` (its S3
// gateway on 127.0.0.1) through tenancy/s3test, and ftpgate instances
// whose tenant lives in its bucket. Without FTPGATE_WEED they skip, unless
// FTPGATE_INTEGRATION=1, where they fail, as they do when weed cannot
// start.

// weedBucket is the tests' bucket.
const weedBucket = "ftpgate-it"

// startWeed starts the store and makes the test bucket.
func startWeed(t *testing.T) *s3test.Store {
	t.Helper()
	st := s3test.Start(t)
	st.MakeBucket(t, weedBucket)
	return st
}

// tail returns the end of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// s3Gateway is a running `ftpgate serve --config` with one s3 tenant.
type s3Gateway struct {
	*serveProc
	addr string
}

// startS3Gateway runs ftpgate with the tenant acme (user alice, password
// alice-pw, the default tenant) in the store's bucket under prefix.
func startS3Gateway(t *testing.T, st *s3test.Store, prefix string) *s3Gateway {
	t.Helper()
	bin := ftpgateBinary(t)
	dir := t.TempDir()
	files := map[string]string{
		"server.toml": "[listen]\ncontrol = \"127.0.0.1:0\"\n[log]\nlevel = \"debug\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n",
		"creds.toml":  fmt.Sprintf("access_key_id = %q\nsecret_access_key = %q\n", st.AccessKey, st.SecretKey),
		"tenants/acme.toml": fmt.Sprintf(`id = "acme"
[storage]
backend = "s3"
endpoint = %q
bucket = %q
prefix = %q
path_style = true
credentials_file = "../creds.toml"
[[users]]
name = "alice"
password = %q
`, st.URL, weedBucket, prefix, itHash(t, "alice-pw")),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A test may kill the process: its exit status is not checked.
	g := &s3Gateway{}
	g.serveProc = startServeProc(t, exec.Command(bin, "serve", "--config", filepath.Join(dir, "server.toml")), false, func(line string) bool {
		m := listeningLine.FindStringSubmatch(line)
		if m != nil && m[1] == "listening on" {
			g.addr = m[2]
		}
		return g.addr != ""
	})
	return g
}

// restStor stores "NEW TAIL" at offset 1000 of NAME with REST+STOR,
// then tries REST far past the end, printing both replies.
const restStor = `
import ftplib, io, sys
c = ftplib.FTP()
c.connect(sys.argv[1], int(sys.argv[2]), timeout=60); c.login("alice", "alice-pw")
print("mid:", c.storbinary("STOR " + sys.argv[3], io.BytesIO(b"NEW TAIL"), rest=1000))
try:
    print("past:", c.storbinary("STOR " + sys.argv[3], io.BytesIO(b"x"), rest=10**12))
except ftplib.all_errors as e:
    print("past:", e)
`

// lftpAt runs lftp commands against a gateway as alice.
func lftpAt(t *testing.T, lftp string, g *s3Gateway, commands ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(g.addr)
	script := "set net:max-retries 1; set net:timeout 30; set cmd:fail-exit yes; set ftp:ssl-allow no; " +
		fmt.Sprintf("open -u alice,alice-pw -p %s ftp://%s; ", port, host) + strings.Join(commands, "; ") + "; bye"
	return runClient(t, lftp, "-c", script)
}

// TestIntegrationS3 drives two ftpgate instances on one SeaweedFS bucket
// with curl and lftp: what one stores the other serves, byte for byte;
// a tree goes up and comes back with equal checksums; resumed uploads
// (curl -C - and --append, lftp put -c, ftplib REST+STOR) and resumed
// downloads work; an upload whose server is killed
// half-way leaves no object.
func TestIntegrationS3(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	st := startWeed(t)
	a := startS3Gateway(t, st, "tenants/acme")
	b := startS3Gateway(t, st, "tenants/acme")
	local := t.TempDir()
	ctx := context.Background()

	t.Run("curl-two-instances", func(t *testing.T) {
		src := filepath.Join(local, "big.bin")
		sum := writeFile(t, src, 9<<20+4321, "s3-curl") // two parts
		runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "-T", src, "ftp://"+a.addr+"/big.bin")
		out := filepath.Join(local, "big.back")
		runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "-o", out, "ftp://"+b.addr+"/big.bin")
		sameFile(t, out, sum)
		if _, err := st.Client.StatObject(ctx, weedBucket, "tenants/acme/big.bin", minio.StatObjectOptions{}); err != nil {
			t.Fatalf("object: %v", err)
		}
		list := runClient(t, curl, "-sS", "--max-time", "60", "-u", "alice:alice-pw", "--list-only", "ftp://"+b.addr+"/")
		if !strings.Contains(list, "big.bin") {
			t.Fatalf("instance b does not list a's upload:\n%s", list)
		}
		// REST+RETR: a partial local copy is completed.
		full, _ := os.ReadFile(src)
		part := filepath.Join(local, "part.bin")
		if err := os.WriteFile(part, full[:3<<20+17], 0o644); err != nil {
			t.Fatal(err)
		}
		runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "-C", "-", "-o", part, "ftp://"+a.addr+"/big.bin")
		sameFile(t, part, sum)
		// A resumed upload (curl -C - -T: SIZE, then APPE of the rest)
		// rebuilds the object from its head: read into the first part
		// under 5 MiB, copied by the store (UploadPartCopy) above.
		for _, n := range []int{10, 6<<20 + 5} {
			name := fmt.Sprintf("resume%d.bin", n)
			whole := filepath.Join(local, name)
			wsum := writeFile(t, whole, n+3<<20+7, name)
			data, _ := os.ReadFile(whole)
			head := filepath.Join(local, name+".head")
			if err := os.WriteFile(head, data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "-T", head, "ftp://"+a.addr+"/"+name)
			runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "-C", "-", "-T", whole, "ftp://"+b.addr+"/"+name)
			back := filepath.Join(local, name+".back")
			runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "-o", back, "ftp://"+a.addr+"/"+name)
			sameFile(t, back, wsum)
			// --append adds a second time.
			extra := filepath.Join(local, name+".extra")
			if err := os.WriteFile(extra, []byte("appended"), 0o644); err != nil {
				t.Fatal(err)
			}
			runClient(t, curl, "-sS", "--max-time", "120", "-u", "alice:alice-pw", "--append", "-T", extra, "ftp://"+a.addr+"/"+name)
			o, err := st.Client.GetObject(ctx, weedBucket, "tenants/acme/"+name, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(o)
			_ = o.Close()
			if want := string(data) + "appended"; string(got) != want {
				t.Fatalf("%s after curl --append: %d bytes, want %d equal", name, len(got), len(want))
			}
		}
	})

	t.Run("lftp-mirror-up-and-down", func(t *testing.T) {
		tree := filepath.Join(local, "tree")
		if err := os.MkdirAll(filepath.Join(tree, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		sums := map[string][32]byte{
			"a/b/deep.bin": writeFile(t, filepath.Join(tree, "a", "b", "deep.bin"), 70000, "deep"),
			"a/mid.bin":    writeFile(t, filepath.Join(tree, "a", "mid.bin"), 6<<20+1, "mid"),
			"top.txt":      writeFile(t, filepath.Join(tree, "top.txt"), 10, "top"),
			"empty.txt":    writeFile(t, filepath.Join(tree, "empty.txt"), 0, "empty"),
		}
		lftpAt(t, lftp, a, "mirror --reverse --no-perms "+tree+" mirrored")
		back := filepath.Join(local, "back")
		lftpAt(t, lftp, b, "mirror mirrored "+back)
		for name, sum := range sums {
			sameFile(t, filepath.Join(back, filepath.FromSlash(name)), sum)
		}
		lftpAt(t, lftp, b, "mv mirrored/top.txt mirrored/moved.txt", "rm mirrored/a/b/deep.bin", "rmdir mirrored/a/b", "mkdir mirrored/new")
		out := lftpAt(t, lftp, a, "cls -1 mirrored")
		if !strings.Contains(out, "moved.txt") || strings.Contains(out, "top.txt") || !strings.Contains(out, "new") {
			t.Fatalf("a's listing after b's changes:\n%s", out)
		}
	})

	t.Run("python-ftplib", func(t *testing.T) {
		python := requireTool(t, "python3")
		script, err := filepath.Abs(filepath.Join("testdata", "ftplib_client.py"))
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(a.addr)
		// Round trips, MKD/CWD/MLSD/NLST, RNFR/RNTO, REST+RETR, DELE, RMD.
		for _, sc := range []string{"plain", "active"} {
			if out := runClient(t, python, script, sc, host, port, "alice", "alice-pw"); !strings.Contains(out, "ok rmd") {
				t.Fatalf("%s:\n%s", sc, out)
			}
		}
	})

	t.Run("lftp-resume", func(t *testing.T) {
		src := filepath.Join(local, "resume.bin")
		sum := writeFile(t, src, 2<<20+333, "resume")
		full, _ := os.ReadFile(src)
		// Download: a partial local copy is completed with REST + RETR.
		lftpAt(t, lftp, a, "put "+src+" -o resume.bin")
		part := filepath.Join(local, "resume.part")
		if err := os.WriteFile(part, full[:123457], 0o644); err != nil {
			t.Fatal(err)
		}
		lftpAt(t, lftp, b, "get -c resume.bin -o "+part)
		sameFile(t, part, sum)
		// Upload: lftp put -c sends REST <remote size> + STOR of the
		// rest; the object is rebuilt whole, for a head under 5 MiB
		// (read into the first part) and above (copied by the store).
		for _, n := range []int{654321, 5<<20 + 99} {
			name := fmt.Sprintf("u%d.bin", n)
			big := filepath.Join(local, name)
			bsum := writeFile(t, big, n+2<<20+1, name)
			data, _ := os.ReadFile(big)
			head := filepath.Join(local, name+".head")
			if err := os.WriteFile(head, data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			lftpAt(t, lftp, a, "put "+head+" -o "+name)
			lftpAt(t, lftp, b, "put -c "+big+" -o "+name)
			back := filepath.Join(local, name+".back")
			lftpAt(t, lftp, a, "get "+name+" -o "+back)
			sameFile(t, back, bsum)
		}
		// REST inside the object, then STOR (Python ftplib): the head
		// [0, REST) stays, the tail is replaced; REST past the end: 554.
		python := requireTool(t, "python3")
		host, port, _ := net.SplitHostPort(a.addr)
		out := runClient(t, python, "-c", restStor, host, port, "u654321.bin")
		if !strings.Contains(out, "mid: 226") || !strings.Contains(out, "past: 554") {
			t.Fatalf("ftplib REST+STOR:\n%s", out)
		}
		o, err := st.Client.GetObject(ctx, weedBucket, "tenants/acme/u654321.bin", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(o)
		_ = o.Close()
		orig, _ := os.ReadFile(filepath.Join(local, "u654321.bin"))
		if want := string(orig[:1000]) + "NEW TAIL"; string(got) != want {
			t.Fatalf("after REST 1000 + STOR: %d bytes, want %d equal", len(got), len(want))
		}
	})

	t.Run("killed-mid-upload-leaves-nothing", func(t *testing.T) {
		c := startS3Gateway(t, st, "tenants/acme")
		src := filepath.Join(local, "killed.bin")
		writeFile(t, src, 40<<20, "killed")
		up := exec.Command(curl, "-sS", "--max-time", "120", "--limit-rate", "4M", "-u", "alice:alice-pw", "-T", src, "ftp://"+c.addr+"/killed.bin")
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		upDone := make(chan error, 1)
		go func() { upDone <- up.Wait() }()
		// Wait until the multipart upload is under way (a part sent).
		deadline := time.Now().Add(itTimeout)
		for {
			n := 0
			for u := range st.Client.ListIncompleteUploads(ctx, weedBucket, "tenants/acme/killed", true) {
				if u.Err == nil {
					n++
				}
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				_ = up.Process.Kill()
				t.Fatal("no multipart upload appeared")
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = c.cmd.Process.Kill()
		<-c.done
		select {
		case err := <-upDone:
			if err == nil {
				t.Fatal("curl reported success for an upload whose server was killed")
			}
		case <-time.After(itTimeout):
			_ = up.Process.Kill()
			t.Fatal("curl did not end after the server was killed")
		}
		if _, err := st.Client.StatObject(ctx, weedBucket, "tenants/acme/killed.bin", minio.StatObjectOptions{}); err == nil {
			t.Fatal("the killed upload's object exists")
		}
		list := runClient(t, curl, "-sS", "--max-time", "60", "-u", "alice:alice-pw", "--list-only", "ftp://"+a.addr+"/")
		if strings.Contains(list, "killed.bin") {
			t.Fatalf("killed.bin listed:\n%s", list)
		}
	})
}
