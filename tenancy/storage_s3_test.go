package tenancy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// fakeS3 is an in-process S3 on 127.0.0.1 with one bucket "data"; it
// counts server-side copies.
type fakeS3 struct {
	url    string
	client *minio.Client
	copies atomic.Int32
	// fault, when set, may answer a request itself (true).
	fault atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	s := &fakeS3{}
	h := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := s.fault.Load(); f != nil && (*f)(w, r) {
			return
		}
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			s.copies.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("AKID", "SECRET", ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), "data", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	s.client = c
	return s
}

func (s *fakeS3) put(t *testing.T, key, body string) {
	t.Helper()
	if _, err := s.client.PutObject(context.Background(), "data", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (s *fakeS3) get(t *testing.T, key string) (string, bool) {
	t.Helper()
	o, err := s.client.GetObject(context.Background(), "data", key, minio.GetObjectOptions{})
	if err != nil {
		return "", false
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// s3TenantTOML is a tenant on the fake store under prefix; extra goes at
// the end of [storage]... and after it, the users.
func s3TenantTOML(t testing.TB, id, endpoint, prefix, storageExtra, extra string) string {
	return fmt.Sprintf(`
id = %q
[storage]
backend = "s3"
endpoint = %q
bucket = "data"
prefix = %q
path_style = true
access_key_id = "AKID"
secret_access_key = "SUPERSECRET-s3-key"
%s
[[users]]
name = "alice"
password = %q
home = "/alice"
[[users]]
name = "bob"
password = %q
  [[users.permissions]]
  prefix = "/"
  allow = ["list", "download"]
  [[users.permissions]]
  prefix = "/incoming"
  allow = ["list", "upload", "mkdir"]
`, id, endpoint, prefix, storageExtra, testHash(t, "alice-pw"), testHash(t, "bob-pw")) + extra
}

// newS3Fixture serves tenant acme, the default, on s under the prefix
// tenants/acme; storageExtra and extra are s3TenantTOML's.
func newS3Fixture(t *testing.T, s *fakeS3, storageExtra, extra string) *fixture {
	t.Helper()
	return newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": s3TenantTOML(t, "acme", s.url, "tenants/acme", storageExtra, extra),
	})
}

// s3QuotaLogin serves an s3 tenant with a quota of quotaBytes whose
// alice already has old.bin (8 bytes) in the store, and logs alice in
// twice: through the client and raw, for AVBL.
func s3QuotaLogin(t *testing.T, quotaBytes int) (*fakeS3, *ftp.ServerConn, *raw) {
	t.Helper()
	s := newFakeS3(t)
	s.put(t, "tenants/acme/alice/old.bin", "12345678")
	f := newS3Fixture(t, s, "", fmt.Sprintf("[quota]\nbytes = %d\n", quotaBytes))
	alice := f.mustLogin("alice", "alice-pw")
	rc := f.dialRaw()
	rc.cmd("USER alice")
	if code, _ := rc.cmd("PASS alice-pw"); code != 230 {
		t.Fatal("login")
	}
	return s, alice, rc
}

// wantAVBL checks that AVBL answers 213 with want bytes.
func wantAVBL(t *testing.T, rc *raw, want string) {
	t.Helper()
	if code, msg := rc.cmd("AVBL"); code != 213 || strings.TrimSpace(msg) != want {
		t.Fatalf("AVBL = %d %q, want 213 with %s bytes", code, msg, want)
	}
}

// retrAll downloads name whole; the error is RETR's, the read's or the
// transfer's end (226).
func retrAll(c *ftp.ServerConn, name string) (string, error) {
	r, err := c.Retr(name)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return string(b), err
}

// TestS3TenantGuarded: a tenant on object storage through the whole
// tenancy stack: a user's home is a prefix of its own, uploads go
// straight to the object (no temporary object, no copy), rights still
// refuse, and nothing leaves the tenant's prefix.
func TestS3TenantGuarded(t *testing.T) {
	s := newFakeS3(t)
	s.put(t, "tenants/other/secret", "other tenant")
	f := newS3Fixture(t, s, "", "")
	alice := f.mustLogin("alice", "alice-pw")
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := alice.Stor("report.txt", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.get(t, "tenants/acme/alice/report.txt"); !ok || got != string(data) {
		t.Fatalf("object: %d bytes, %v", len(got), ok)
	}
	if n := s.copies.Load(); n != 0 {
		t.Fatalf("%d server-side copies for one upload: it went through a temporary object", n)
	}
	r, err := alice.Retr("report.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	_ = r.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("RETR differs")
	}
	if err := alice.Stor("../../other/x", strings.NewReader("x")); err == nil {
		if _, ok := s.get(t, "tenants/other/x"); ok {
			t.Fatal("an upload left the tenant's prefix")
		}
	}
	bob := f.mustLogin("bob", "bob-pw")
	if err := bob.Stor("top.txt", strings.NewReader("no")); replyCode(err) != 550 {
		t.Fatalf("bob's upload outside /incoming: %v, want 550", err)
	}
	if err := bob.MakeDir("incoming"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Stor("incoming/in.txt", strings.NewReader("yes")); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.get(t, "tenants/acme/incoming/in.txt"); !ok || got != "yes" {
		t.Fatalf("bob's upload: %q %v", got, ok)
	}
	if err := bob.Delete("incoming/in.txt"); replyCode(err) != 550 {
		t.Fatalf("bob's DELE without the right: %v", err)
	}
	names, err := bob.NameList("/alice")
	if err != nil || len(names) != 1 || !strings.HasSuffix(names[0], "report.txt") {
		t.Fatalf("NLST /alice = %v, %v", names, err)
	}
	for o := range s.client.ListObjects(context.Background(), "data", minio.ListObjectsOptions{Recursive: true}) {
		if o.Key != "tenants/other/secret" && !strings.HasPrefix(o.Key, "tenants/acme/") {
			t.Fatalf("key %q outside the tenant's prefix", o.Key)
		}
	}
}

// TestS3TenantQuota: the usage already in the store is counted at start,
// AVBL answers from it, and an upload past the quota gets 552 and leaves
// nothing.
func TestS3TenantQuota(t *testing.T) {
	s, alice, rc := s3QuotaLogin(t, 12)
	// 8 bytes of old.bin plus the alice/ marker made at the first login.
	wantAVBL(t, rc, "4")
	if err := alice.Stor("big.bin", strings.NewReader("123456")); replyCode(err) != 552 {
		t.Fatalf("upload past the quota: %v, want 552", err)
	}
	if _, ok := s.get(t, "tenants/acme/alice/big.bin"); ok {
		t.Fatal("the refused upload's object exists")
	}
	if err := alice.Stor("ok.bin", strings.NewReader("1234")); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete("old.bin"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Stor("again.bin", strings.NewReader("12345678")); err != nil {
		t.Fatalf("upload after DELE gave the bytes back: %v", err)
	}
}

// TestS3TenantQuotaResume: an APPE and a REST+STOR on object storage
// rebuild the object; the quota counts the new object once the old one is
// replaced (AVBL), and the bytes are the old head plus the new ones.
func TestS3TenantQuotaResume(t *testing.T) {
	s, alice, rc := s3QuotaLogin(t, 20)
	wantAVBL(t, rc, "12")
	if err := alice.Append("old.bin", strings.NewReader("90")); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	if got, _ := s.get(t, "tenants/acme/alice/old.bin"); got != "1234567890" {
		t.Fatalf("after APPE: %q", got)
	}
	wantAVBL(t, rc, "10")
	if err := alice.StorFrom("old.bin", strings.NewReader("ab"), 4); err != nil {
		t.Fatalf("REST+STOR: %v", err)
	}
	if got, _ := s.get(t, "tenants/acme/alice/old.bin"); got != "1234ab" {
		t.Fatalf("after REST+STOR: %q", got)
	}
	wantAVBL(t, rc, "14")
}

// s3Error answers a request with an S3 error.
func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>1</RequestId></Error>`, code, msg)
}

// TestS3StoreFaults: a store that throttles (503 SlowDown) a few times
// is retried with backoff and the transfers succeed (226); one that
// stays throttled gets 451 "busy"; one that refuses the credentials
// (403) gets 550 naming the storage credentials; each failed command
// logs one line, with no credential in it nor in the reply. A download
// whose body breaks half-way is resumed from where it broke.
func TestS3StoreFaults(t *testing.T) {
	s := newFakeS3(t)
	payload := strings.Repeat("0123456789", 100000) // 1 MB
	s.put(t, "tenants/acme/alice/down.bin", payload)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	f := newS3Fixture(t, s, "", "")
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	addr := enginetest.Start(t, &engine.Server{Driver: d, Logger: log}).Addr
	c := enginetest.Login(t, addr, "", "alice", "alice-pw")

	// Throttled four times (of s3Attempts), then served.
	var left atomic.Int32
	fault := func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/slow") && left.Add(-1) >= 0 {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
			return true
		}
		return false
	}
	s.fault.Store(&fault)
	left.Store(s3Attempts - 1)
	if err := c.Stor("slow.txt", strings.NewReader("patience")); err != nil {
		t.Fatalf("STOR through a throttling store: %v", err)
	}
	if got, _ := s.get(t, "tenants/acme/alice/slow.txt"); got != "patience" {
		t.Fatalf("slow.txt = %q", got)
	}
	left.Store(s3Attempts - 1)
	if b, err := retrAll(c, "slow.txt"); err != nil || b != "patience" {
		t.Fatalf("RETR through a throttling store = %q, %v", b, err)
	}

	// Throttled for good: 451 with the reason, one log line.
	lines := strings.Count(logs.String(), "\n")
	left.Store(1 << 30)
	if _, err := c.FileSize("slow.txt"); replyCode(err) != 451 || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("SIZE on a store that stays throttled: %v, want 451 busy", err)
	}
	if n := strings.Count(logs.String(), "\n") - lines; n != 1 {
		t.Fatalf("%d log lines for one failed command:\n%s", n, logs.String())
	}

	// Credentials refused: 550 naming them, one line, no credential.
	deny := func(w http.ResponseWriter, r *http.Request) bool {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return true
	}
	s.fault.Store(&deny)
	lines = strings.Count(logs.String(), "\n")
	_, err = c.Retr("down.bin")
	if replyCode(err) != 550 || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("RETR with refused credentials: %v, want 550 naming the credentials", err)
	}
	if n := strings.Count(logs.String(), "\n") - lines; n != 1 {
		t.Fatalf("%d log lines for one refused command:\n%s", n, logs.String())
	}
	for _, secret := range []string{"SUPERSECRET", "AKID"} {
		if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
			t.Fatalf("%s in the log or the reply: %v\n%s", secret, err, logs.String())
		}
	}

	// A GET cut short twice is resumed from where it broke.
	var cuts atomic.Int32
	cut := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/down.bin") || cuts.Add(1) > 2 {
			return false
		}
		start := 0
		if rg := r.Header.Get("Range"); rg != "" {
			_, _ = fmt.Sscanf(rg, "bytes=%d-", &start)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)-start))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", r.Header.Get("If-Match"))
		if start > 0 {
			// As S3 answers a range: 206 naming the bytes sent.
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(payload)-1, len(payload)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		_, _ = io.WriteString(w, payload[start:start+1234])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-body
	}
	s.fault.Store(&cut)
	if b, err := retrAll(c, "down.bin"); err != nil || b != payload {
		t.Fatalf("RETR of a GET broken twice: %d bytes (%v), want %d equal", len(b), err, len(payload))
	}
}

// TestS3LastPartOutsideNameLock: while one session's upload sends its
// last part (held by the store), another session's DELE, which takes the
// tenant's name lock, is answered: the lock is held across the request
// that makes the object, not across a part's bytes. Then the upload ends
// with 226 and its bytes.
func TestS3LastPartOutsideNameLock(t *testing.T) {
	s := newFakeS3(t)
	s.put(t, "tenants/acme/alice/other.txt", "x")
	f := newS3Fixture(t, s, "part_size = \"5M\"\n", "")
	a := f.mustLogin("alice", "alice-pw")
	b := f.mustLogin("alice", "alice-pw")
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var timedOut atomic.Bool
	hold := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" && strings.HasSuffix(r.URL.Path, "/last.bin") {
			once.Do(func() { close(arrived) })
			select {
			case <-release:
			case <-time.After(enginetest.Timeout):
				timedOut.Store(true)
			}
		}
		return false
	}
	s.fault.Store(&hold)
	data := strings.Repeat("l", 5<<20+10)
	stored := make(chan error, 1)
	go func() { stored <- a.Stor("last.bin", strings.NewReader(data)) }()
	select {
	case <-arrived:
	case err := <-stored:
		t.Fatalf("the upload ended before its last part was sent: %v", err)
	case <-time.After(enginetest.Timeout):
		t.Fatal("the last part never reached the store")
	}
	err := b.Delete("other.txt")
	close(release)
	if err != nil {
		t.Fatalf("DELE while another upload sends its last part: %v", err)
	}
	if timedOut.Load() {
		t.Fatal("DELE waited for another session's last part (the name lock was held across it)")
	}
	if err := <-stored; err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if got, _ := s.get(t, "tenants/acme/alice/last.bin"); got != data {
		t.Fatalf("last.bin holds %d bytes, want %d", len(got), len(data))
	}
}

// TestS3ConfigErrors: every s3 mistake is reported with its file, line
// and key, and no message holds a credential.
func TestS3ConfigErrors(t *testing.T) {
	t.Setenv("FTPGATE_TEST_S3_ID", "envid")
	cases := []struct{ storage, want string }{
		{"endpoint = \"ftp://x\"\nbucket = \"data\"\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\n", "storage.endpoint: \"ftp://x\": want https://"},
		{"endpoint = \"https://s3.test\"\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\n", "storage.bucket: missing"},
		{"endpoint = \"https://s3.test\"\nbucket = \"Data_Bad\"\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\n", "storage.bucket: \"Data_Bad\""},
		{"endpoint = \"https://s3.test\"\nbucket = \"data\"\nprefix = \"a/../b\"\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\n", "storage.prefix: \"a/../b\""},
		{"endpoint = \"https://s3.test\"\nbucket = \"data\"\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\ncredentials_file = \"creds.toml\"\n", "exactly one of"},
		{"endpoint = \"https://s3.test\"\nbucket = \"data\"\n", "(0 given)"},
		{"endpoint = \"https://s3.test\"\nbucket = \"data\"\naccess_key_id_env = \"FTPGATE_TEST_S3_ID\"\nsecret_access_key_env = \"FTPGATE_TEST_S3_UNSET\"\n", "storage.secret_access_key_env: \"FTPGATE_TEST_S3_UNSET\""},
		{"endpoint = \"http://s3.test\"\nbucket = \"data\"\ntls_insecure_skip_verify = true\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\n", "TLS settings are set but the endpoint is not https://"},
		{"endpoint = \"https://s3.test\"\nbucket = \"data\"\npart_size = \"1M\"\naccess_key_id = \"a\"\nsecret_access_key = \"SUPERSECRET\"\n", "storage.part_size"},
	}
	for i, c := range cases {
		file := filepath.Join(t.TempDir(), "t.toml")
		data := "id = \"t\"\n[storage]\nbackend = \"s3\"\n" + c.storage
		var errs conf.Errors
		if _, ok := ParseTenantConfig(file, []byte(data), &errs); ok {
			t.Errorf("case %d accepted", i)
			continue
		}
		msg := errs.Error()
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, file+":") {
			t.Errorf("case %d: %v\nwant %q with FILE:LINE", i, msg, c.want)
		}
		if strings.Contains(msg, "SUPERSECRET") {
			t.Errorf("case %d: a secret in %q", i, msg)
		}
	}
	// Keys of the s3 backend on another one.
	var errs conf.Errors
	if _, ok := ParseTenantConfig("/x/t.toml", []byte("id = \"t\"\n[storage]\nbackend = \"memory\"\nbucket = \"data\"\n"), &errs); ok || !strings.Contains(errs.Error(), "s3 keys") {
		t.Errorf("s3 keys on memory: %v", errs)
	}
}

// TestS3PrefixOverlap: two tenants whose prefixes contain one another in
// one bucket are refused.
func TestS3PrefixOverlap(t *testing.T) {
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir}
	f.writeFile("server.toml", serverTOML(""))
	f.writeFile("tenants/a.toml", s3TenantTOML(t, "a", "https://s3.test", "tenants", "", ""))
	f.writeFile("tenants/b.toml", s3TenantTOML(t, "b", "https://s3.test", "tenants/b", "", ""))
	f.writeFile("tenants/c.toml", s3TenantTOML(t, "c", "https://s3.test", "tenants-c", "", ""))
	_, err := LoadConfig(filepath.Join(dir, "server.toml"))
	if err == nil || !strings.Contains(err.Error(), "b.toml:7: storage.prefix: the same bucket") {
		t.Fatalf("overlapping prefixes: %v", err)
	}
	if strings.Contains(err.Error(), "c.toml") {
		t.Fatalf("tenants-c does not overlap tenants/: %v", err)
	}
}

// TestS3SecretsNeverLogged: the secret read from a credentials file, the
// environment or the tenant file never shows in a formatted or logged
// configuration, nor in the log of a store that fails.
func TestS3SecretsNeverLogged(t *testing.T) {
	t.Setenv("FTPGATE_TEST_S3_ID", "envid")
	t.Setenv("FTPGATE_TEST_S3_SECRET", "SUPERSECRET-env")
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir}
	f.writeFile("creds.toml", "access_key_id = \"fileid\"\nsecret_access_key = \"SUPERSECRET-file\"\n")
	// A closed port: every request fails, and is logged.
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.URL
	ln.Close()
	for _, creds := range []string{
		"access_key_id = \"AKID\"\nsecret_access_key = \"SUPERSECRET-inline\"\n",
		"credentials_file = \"../creds.toml\"\n",
		"access_key_id_env = \"FTPGATE_TEST_S3_ID\"\nsecret_access_key_env = \"FTPGATE_TEST_S3_SECRET\"\n",
	} {
		toml := fmt.Sprintf("id = \"t\"\n[storage]\nbackend = \"s3\"\nendpoint = %q\nbucket = \"data\"\npath_style = true\nprefix = \"t\"\ntimeout = \"5s\"\n%s[[users]]\nname = \"alice\"\npassword = %q\n", dead, creds, testHash(t, "pw"))
		f.writeFile("server.toml", serverTOML("default = \"t\"\n"))
		f.writeFile("tenants/t.toml", toml)
		cfg, err := LoadConfig(filepath.Join(dir, "server.toml"))
		if err != nil {
			t.Fatal(err)
		}
		logs := &lockedBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		log.Info("config", "tenant", cfg.Tenants[0], "s3", cfg.Tenants[0].Storage.S3)
		fmt.Fprintf(logs, "%+v %#v %v\n", *cfg.Tenants[0].Storage.S3, *cfg.Tenants[0].Storage.S3, cfg.Tenants[0].Storage.S3)
		d, err := New(cfg, Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		srv := &engine.Server{Driver: d, Logger: log}
		addr := enginetest.Start(t, srv).Addr
		c := enginetest.Login(t, addr, "", "alice", "pw")
		if _, err := c.List("/"); err == nil {
			t.Fatal("LIST on a dead store succeeded")
		}
		_ = c.Quit()
		_ = d.Close()
		if !strings.Contains(logs.String(), "object store request failed") {
			t.Fatalf("no store failure logged:\n%s", logs.String())
		}
		if strings.Contains(logs.String(), "SUPERSECRET") {
			t.Fatalf("a secret in the logs:\n%s", logs.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
