package s3fs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/tenancy/internal/s3fs"
	"github.com/jlaffaye/ftp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	bucket = "data"
	prefix = "tenants/acme/"
)

// store is an in-process fake S3 on 127.0.0.1 with a switch that fails
// CompleteMultipartUpload.
type store struct {
	client       *minio.Client
	transport    *http.Transport // the client's
	failComplete atomic.Bool
	completes    atomic.Int32
	initiated    atomic.Int32
	aborted      atomic.Int32
	partsNow     atomic.Int32 // part uploads being received
	partsMax     atomic.Int32 // the most at once
	copyParts    atomic.Int32 // UploadPartCopy requests
	gets         atomic.Int32 // object GETs
	// fault, when set before requests are made, may answer a request
	// itself (true) instead of the fake.
	fault atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

// uploadPartCopy serves UploadPartCopy, which gofakes3 lacks: a ranged
// GET of the source (412 when x-amz-copy-source-if-match differs) sent
// as an ordinary part.
func uploadPartCopy(h http.Handler, w http.ResponseWriter, r *http.Request) {
	src, err := url.PathUnescape(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	get := httptest.NewRequest(http.MethodGet, "/"+strings.TrimPrefix(src, "/"), nil)
	if rg := r.Header.Get("X-Amz-Copy-Source-Range"); rg != "" {
		get.Header.Set("Range", rg)
	}
	got := httptest.NewRecorder()
	h.ServeHTTP(got, get)
	if got.Code/100 != 2 {
		w.WriteHeader(got.Code)
		_, _ = w.Write(got.Body.Bytes())
		return
	}
	if m := r.Header.Get("X-Amz-Copy-Source-If-Match"); m != "" && strings.Trim(m, `"`) != strings.Trim(got.Header().Get("ETag"), `"`) {
		http.Error(w, "<Error><Code>PreconditionFailed</Code></Error>", http.StatusPreconditionFailed)
		return
	}
	body := got.Body.Bytes()
	put := httptest.NewRequest(http.MethodPut, r.URL.String(), bytes.NewReader(body))
	put.ContentLength = int64(len(body))
	put.Header.Set("Content-Length", strconv.Itoa(len(body)))
	done := httptest.NewRecorder()
	h.ServeHTTP(done, put)
	if done.Code/100 != 2 {
		w.WriteHeader(done.Code)
		_, _ = w.Write(done.Body.Bytes())
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><CopyPartResult><ETag>%s</ETag><LastModified>%s</LastModified></CopyPartResult>`,
		done.Header().Get("ETag"), time.Now().UTC().Format(time.RFC3339))
}

// etagMatches reports whether the object at p has the ETag m (If-Match
// on GET, which gofakes3 ignores).
func etagMatches(h http.Handler, p, m string) bool {
	head := httptest.NewRecorder()
	h.ServeHTTP(head, httptest.NewRequest(http.MethodHead, p, nil))
	return head.Code == http.StatusOK && strings.Trim(m, `"`) == strings.Trim(head.Header().Get("ETag"), `"`)
}

func newStore(t *testing.T) *store {
	t.Helper()
	st := &store{}
	fake := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	h := fake.Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" && r.URL.Query().Has("partNumber") {
			st.copyParts.Add(1)
			uploadPartCopy(h, w, r)
			return
		}
		if r.Method == http.MethodGet && r.Header.Get("If-Match") != "" && !etagMatches(h, r.URL.Path, r.Header.Get("If-Match")) {
			http.Error(w, "<Error><Code>PreconditionFailed</Code></Error>", http.StatusPreconditionFailed)
			return
		}
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && strings.Count(r.URL.Path, "/") > 1 {
			st.gets.Add(1)
		}
		if r.Method == http.MethodPost && r.URL.Query().Has("uploads") {
			st.initiated.Add(1)
		}
		if r.Method == http.MethodDelete && r.URL.Query().Has("uploadId") {
			st.aborted.Add(1)
		}
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			n := st.partsNow.Add(1)
			defer st.partsNow.Add(-1)
			for m := st.partsMax.Load(); n > m && !st.partsMax.CompareAndSwap(m, n); m = st.partsMax.Load() {
			}
		}
		if f := st.fault.Load(); f != nil && (*f)(w, r) {
			return
		}
		if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			st.completes.Add(1)
			if st.failComplete.Load() {
				http.Error(w, "<Error><Code>InternalError</Code></Error>", http.StatusInternalServerError)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	st.transport = http.DefaultTransport.(*http.Transport).Clone()
	c, err := minio.New(u.Host, &minio.Options{
		Transport:    st.transport,
		Creds:        credentials.NewStaticV4("AKID", "SECRET", ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	st.client = c
	return st
}

// keys lists every key in the bucket.
func (st *store) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	for o := range st.client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}

func (st *store) has(t *testing.T, key string) bool {
	t.Helper()
	_, err := st.client.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	return err == nil
}

// driver serves one Fs to any login.
type driver struct{ fs *s3fs.Fs }

func (d *driver) GetSettings() (*engine.Settings, error)               { return &engine.Settings{}, nil }
func (d *driver) ClientConnected(engine.ClientContext) (string, error) { return "s3", nil }
func (d *driver) ClientDisconnected(engine.ClientContext)              {}
func (d *driver) GetTLSConfig() (*tls.Config, error)                   { return nil, nil }
func (d *driver) AuthUser(engine.ClientContext, string, string) (engine.ClientDriver, error) {
	return d.fs, nil
}

// setup starts a fake store and an engine serving an Fs over it.
func setup(t *testing.T, cfg s3fs.Config) (*store, *s3fs.Fs, *ftp.ServerConn, string) {
	t.Helper()
	st := newStore(t)
	cfg.Client, cfg.Bucket, cfg.Prefix = st.client, bucket, prefix
	fsys, err := s3fs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, &engine.Server{Driver: &driver{fs: fsys}, Logger: slog.New(slog.DiscardHandler)})
	c := enginetest.Login(t, srv.Addr, "", "u", "p")
	return st, fsys, c, srv.Addr
}

// pattern returns n bytes that differ at every offset that matters.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func retr(t *testing.T, c *ftp.ServerConn, name string, off uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, off)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

// TestUploadDownload: a multipart upload (three parts) and a one-PUT
// upload store the client's bytes under the tenant's prefix, and RETR and
// REST+RETR give them back.
func TestUploadDownload(t *testing.T) {
	st, _, c, _ := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	big := pattern(2*s3fs.MinPartSize + 12345)
	if err := c.Stor("big.bin", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("small.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if got := retr(t, c, "big.bin", 0); !bytes.Equal(got, big) {
		t.Fatalf("RETR big.bin: %d bytes, want %d equal", len(got), len(big))
	}
	if got := retr(t, c, "big.bin", 6<<20); !bytes.Equal(got, big[6<<20:]) {
		t.Fatalf("REST+RETR: %d bytes differ", len(got))
	}
	if got := retr(t, c, "small.txt", 0); string(got) != "hello" {
		t.Fatalf("RETR small.txt = %q", got)
	}
	if n, err := c.FileSize("big.bin"); err != nil || n != int64(len(big)) {
		t.Fatalf("SIZE = %d, %v", n, err)
	}
	if _, err := c.GetTime("big.bin"); err != nil {
		t.Fatalf("MDTM: %v", err)
	}
	if !st.has(t, prefix+"big.bin") || !st.has(t, prefix+"small.txt") {
		t.Fatalf("objects missing: %v", st.keys(t))
	}
	if st.completes.Load() != 1 {
		t.Fatalf("%d CompleteMultipartUpload calls, want 1 (the small file is one PUT)", st.completes.Load())
	}
	if m := st.partsMax.Load(); m > 2 {
		t.Fatalf("%d parts were sent at once, want at most 2", m)
	}
}

// rawPASV opens a passive data connection on a raw control connection.
func rawPASV(t *testing.T, rc *enginetest.Conn) net.Conn {
	t.Helper()
	msg := rc.Expect("EPSV", 229)
	i, j := strings.Index(msg, "|||"), strings.LastIndex(msg, "|")
	port, err := strconv.Atoi(msg[i+3 : j])
	if err != nil {
		t.Fatalf("EPSV reply %q", msg)
	}
	dc, err := enginetest.Dialer("").Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// TestAbortLeavesNothing: an upload aborted after a part was sent leaves
// no object and no pending multipart upload.
func TestAbortLeavesNothing(t *testing.T) {
	st, _, _, addr := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	rc, _, _ := enginetest.Dial(t, addr, "")
	rc.Expect("USER u", 331)
	rc.Expect("PASS p", 230)
	rc.Expect("TYPE I", 200)
	dc := rawPASV(t, rc)
	rc.Expect("STOR half.bin", 150)
	if _, err := dc.Write(pattern(s3fs.MinPartSize + 4096)); err != nil {
		t.Fatal(err)
	}
	enginetest.Eventually(t, "the first part is sent", func() bool { return st.initiated.Load() > 0 })
	rc.Send("ABOR")
	code, _ := rc.Read()
	if code != 426 && code != 226 {
		t.Fatalf("after ABOR: %d", code)
	}
	if code == 426 {
		rc.Expect("NOOP", 226) // ABOR's own reply, then NOOP's
	}
	_ = dc.Close()
	if st.has(t, prefix+"half.bin") {
		t.Fatal("the aborted upload's object exists")
	}
	// gofakes3 cannot list pending uploads: count them instead.
	if st.initiated.Load() != 1 || st.aborted.Load() != 1 {
		t.Fatalf("%d multipart uploads started, %d aborted; want 1 and 1", st.initiated.Load(), st.aborted.Load())
	}
}

// TestCompleteFails451: when CompleteMultipartUpload fails the client gets
// 451, not 226, and the name is not listed.
func TestCompleteFails451(t *testing.T) {
	st, _, c, _ := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	st.failComplete.Store(true)
	err := c.Stor("lost.bin", bytes.NewReader(pattern(s3fs.MinPartSize+10)))
	if err == nil || !strings.HasPrefix(err.Error(), "451") {
		t.Fatalf("STOR with a failing complete: %v, want 451", err)
	}
	names, err := c.NameList("/")
	if err != nil && !strings.Contains(err.Error(), "450") && !strings.Contains(err.Error(), "550") {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, "lost") {
			t.Fatalf("lost.bin listed: %v", names)
		}
	}
	if st.has(t, prefix+"lost.bin") {
		t.Fatal("object exists")
	}
}

// TestListing2500: a directory of 2,500 objects and a subdirectory lists
// completely through several ListObjectsV2 pages; a directory with no
// marker shows the Unix epoch as its time.
func TestListing2500(t *testing.T) {
	st, _, c, _ := setup(t, s3fs.Config{})
	ctx := context.Background()
	const n = 2500
	for i := range n {
		if _, err := st.client.PutObject(ctx, bucket, fmt.Sprintf("%sbig/f%05d", prefix, i), strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.client.PutObject(ctx, bucket, prefix+"big/sub/inner", strings.NewReader("yy"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, err := c.List("/big")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.Name] {
			t.Fatalf("%s listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.Name == "sub" && e.Type != ftp.EntryTypeFolder {
			t.Fatalf("sub listed as %v", e.Type)
		}
		// sub has no marker: its time is the Unix epoch, not year 1.
		if e.Name == "sub" && !e.Time.Equal(time.Unix(0, 0)) {
			t.Fatalf("sub's time is %v, want the Unix epoch", e.Time)
		}
	}
	if len(seen) != n+1 || !seen["f00000"] || !seen["f02499"] || !seen["sub"] {
		t.Fatalf("%d entries listed, want %d", len(seen), n+1)
	}
	names, err := c.NameList("/big/sub")
	if err != nil || len(names) != 1 {
		t.Fatalf("NLST /big/sub = %v, %v", names, err)
	}
}

// TestRenameMkdRmd: RNFR/RNTO of a file and a directory, the directory
// bound, MKD, RMD of a full and an empty directory.
func TestRenameMkdRmd(t *testing.T) {
	st, _, c, _ := setup(t, s3fs.Config{MaxRenameObjects: 3})
	if err := c.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("d"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("MKD of an existing directory: %v", err)
	}
	if err := c.Stor("d/a.txt", strings.NewReader("A")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("nodir/a.txt", strings.NewReader("A")); err == nil {
		t.Fatal("STOR into a missing directory succeeded")
	}
	if err := c.Rename("d/a.txt", "d/a.txt"); err != nil {
		t.Fatalf("RNTO onto itself: %v", err)
	}
	if got := retr(t, c, "d/a.txt", 0); string(got) != "A" {
		t.Fatalf("after RNTO onto itself: %q", got)
	}
	if err := c.Rename("d/a.txt", "d/b.txt"); err != nil {
		t.Fatal(err)
	}
	if st.has(t, prefix+"d/a.txt") || !st.has(t, prefix+"d/b.txt") {
		t.Fatalf("after RNFR/RNTO: %v", st.keys(t))
	}
	if err := c.RemoveDir("d"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("RMD of a full directory: %v", err)
	}
	if err := c.Rename("d", "e"); err != nil {
		t.Fatal(err)
	}
	if got := retr(t, c, "e/b.txt", 0); string(got) != "A" {
		t.Fatalf("after the directory rename: %q", got)
	}
	if !st.has(t, prefix+"e/") || st.has(t, prefix+"d/") {
		t.Fatalf("markers after the rename: %v", st.keys(t))
	}
	for i := range 3 {
		if err := c.Stor(fmt.Sprintf("e/x%d", i), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Rename("e", "f")
	if err == nil || !strings.HasPrefix(err.Error(), "550") || !strings.Contains(err.Error(), "more than 3 objects") {
		t.Fatalf("RNTO of a directory over the bound: %v", err)
	}
	if !st.has(t, prefix+"e/x0") || st.has(t, prefix+"f/x0") {
		t.Fatal("a refused rename moved something")
	}
	for _, n := range []string{"e/b.txt", "e/x0", "e/x1", "e/x2"} {
		if err := c.Delete(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveDir("e"); err != nil {
		t.Fatal(err)
	}
	if keys := st.keys(t); len(keys) != 0 {
		t.Fatalf("left in the bucket: %v", keys)
	}
}

// TestResume: APPE and REST+STOR rebuild the object from the old one's
// head plus the new bytes, whole at 226: a head under 5 MiB is read into
// the first part, a larger one is copied by the store (UploadPartCopy, no
// GET); a REST offset past the end is refused with 554 and an APPE to a
// missing name creates it.
func TestResume(t *testing.T) {
	st, _, c, _ := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	get := func(name string) []byte {
		t.Helper()
		o, err := st.client.GetObject(context.Background(), bucket, prefix+name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		b, err := io.ReadAll(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	if err := c.Stor("f", strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("f", strings.NewReader("two")); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	if got := get("f"); string(got) != "onetwo" {
		t.Fatalf("after APPE: %q", got)
	}
	if err := c.StorFrom("f", strings.NewReader("NE"), 1); err != nil {
		t.Fatalf("REST 1 + STOR: %v", err)
	}
	if got := get("f"); string(got) != "oNE" {
		t.Fatalf("after REST+STOR: %q", got)
	}
	if err := c.StorFrom("f", strings.NewReader("x"), 4); err == nil || !strings.HasPrefix(err.Error(), "554") {
		t.Fatalf("REST past the end + STOR: %v, want 554", err)
	}
	if got := get("f"); string(got) != "oNE" {
		t.Fatalf("after a refused REST+STOR: %q", got)
	}
	if err := c.Append("new", strings.NewReader("fresh")); err != nil {
		t.Fatalf("APPE to a new name: %v", err)
	}
	if got := get("new"); string(got) != "fresh" {
		t.Fatalf("new = %q", got)
	}
	if st.copyParts.Load() != 0 {
		t.Fatalf("%d part copies for heads under 5 MiB", st.copyParts.Load())
	}

	// A head of 5 MiB or more: copied by the store, then new parts.
	big := pattern(2*s3fs.MinPartSize + 999)
	if err := c.Stor("big", bytes.NewReader(big[:s3fs.MinPartSize+10])); err != nil {
		t.Fatal(err)
	}
	gets := st.gets.Load()
	if err := c.Append("big", bytes.NewReader(big[s3fs.MinPartSize+10:])); err != nil {
		t.Fatalf("APPE to a large object: %v", err)
	}
	if got := get("big"); !bytes.Equal(got, big) {
		t.Fatalf("after APPE: %d bytes, want %d equal", len(got), len(big))
	}
	off := s3fs.MinPartSize + 3
	tail := pattern(s3fs.MinPartSize + 77)
	if err := c.StorFrom("big", bytes.NewReader(tail), uint64(off)); err != nil {
		t.Fatalf("REST+STOR on a large object: %v", err)
	}
	if got, want := get("big"), append(append([]byte{}, big[:off]...), tail...); !bytes.Equal(got, want) {
		t.Fatalf("after REST+STOR: %d bytes, want %d equal", len(got), len(want))
	}
	if st.copyParts.Load() != 2 || st.gets.Load() != gets+2 { // the two checks above read it
		t.Fatalf("%d part copies, %d GETs of the old object; want 2 copies and no GET", st.copyParts.Load(), st.gets.Load()-gets-2)
	}
}

// TestResumeAbortKeepsOld: an APPE aborted after its head was copied and a
// part sent leaves the old object as it was and no pending upload.
func TestResumeAbortKeepsOld(t *testing.T) {
	st, _, c, addr := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	old := pattern(s3fs.MinPartSize + 1)
	if err := c.Stor("keep.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	initiated := st.initiated.Load()
	rc, _, _ := enginetest.Dial(t, addr, "")
	rc.Expect("USER u", 331)
	rc.Expect("PASS p", 230)
	rc.Expect("TYPE I", 200)
	dc := rawPASV(t, rc)
	rc.Expect("APPE keep.bin", 150)
	if _, err := dc.Write(pattern(s3fs.MinPartSize + 4096)); err != nil {
		t.Fatal(err)
	}
	enginetest.Eventually(t, "the head is copied", func() bool { return st.copyParts.Load() > 0 })
	rc.Send("ABOR")
	code, _ := rc.Read()
	if code != 426 && code != 226 {
		t.Fatalf("after ABOR: %d", code)
	}
	if code == 426 {
		rc.Expect("NOOP", 226)
	}
	_ = dc.Close()
	o, err := st.client.GetObject(context.Background(), bucket, prefix+"keep.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(o)
	_ = o.Close()
	if !bytes.Equal(got, old) {
		t.Fatalf("keep.bin after an aborted APPE: %d bytes, want the old %d", len(got), len(old))
	}
	if st.initiated.Load()-initiated != 1 || st.aborted.Load() != 1 {
		t.Fatalf("%d uploads started, %d aborted; want 1 and 1", st.initiated.Load()-initiated, st.aborted.Load())
	}
}

// TestResumeReplacedMeanwhile: an object replaced between APPE's open and
// its first byte is not given the new bytes: 451, and the replacement
// stays.
func TestResumeReplacedMeanwhile(t *testing.T) {
	for _, size := range []int{10, s3fs.MinPartSize + 10} {
		st, _, c, addr := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
		if err := c.Stor("r", bytes.NewReader(pattern(size))); err != nil {
			t.Fatal(err)
		}
		rc, _, _ := enginetest.Dial(t, addr, "")
		rc.Expect("USER u", 331)
		rc.Expect("PASS p", 230)
		rc.Expect("TYPE I", 200)
		dc := rawPASV(t, rc)
		rc.Expect("APPE r", 150)
		repl := bytes.Repeat([]byte("z"), size)
		if _, err := st.client.PutObject(context.Background(), bucket, prefix+"r", bytes.NewReader(repl), int64(size), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		_, _ = dc.Write([]byte("tail"))
		_ = dc.Close()
		if code, msg := rc.Read(); code != 451 {
			t.Fatalf("%d bytes: APPE after the object was replaced: %d %s", size, code, msg)
		}
		o, err := st.client.GetObject(context.Background(), bucket, prefix+"r", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(o)
		_ = o.Close()
		if !bytes.Equal(got, repl) {
			t.Fatalf("%d bytes: the replacement became %d bytes", size, len(got))
		}
	}
}

// TestNameAttacks: whatever names a client sends, every key stays under
// the tenant's prefix.
func TestNameAttacks(t *testing.T) {
	st, fsys, c, addr := setup(t, s3fs.Config{})
	if _, err := st.client.PutObject(context.Background(), bucket, "tenants/other/secret", strings.NewReader("s"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("other"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"../other/x", "../../tenants/other/y", "a/./b", "/../other/z"} {
		_ = c.Stor(n, strings.NewReader("evil"))
	}
	if _, err := c.Retr("../other/secret"); err == nil {
		t.Fatal("RETR ../other/secret succeeded")
	}
	long := strings.Repeat("n", 1100)
	if err := c.Stor(long, strings.NewReader("x")); err == nil {
		t.Fatal("STOR of a name longer than a key succeeded")
	}
	rc, _, _ := enginetest.Dial(t, addr, "")
	rc.Expect("USER u", 331)
	rc.Expect("PASS p", 230)
	rc.Send("MKD a\x00b")
	if code, _ := rc.Read(); code < 500 {
		t.Fatalf("MKD with a NUL: %d", code)
	}
	for _, n := range []string{"/a\x00b", "/../other/q", "/a//b", "/a/./b"} {
		if f, err := fsys.Create(n); err == nil {
			_ = f.Close()
			t.Fatalf("Create(%q) accepted", n)
		}
	}
	for _, k := range st.keys(t) {
		if k != "tenants/other/secret" && !strings.HasPrefix(k, prefix) {
			t.Fatalf("key %q outside the prefix", k)
		}
	}
	if !st.has(t, prefix+"other/x") {
		t.Fatalf("../other/x did not land as /other/x inside the prefix: %v", st.keys(t))
	}
}

// TestExclusiveUploadLosesRace: an O_EXCL upload (STOU) whose name is
// taken by another writer (another instance) after it began fails with
// fs.ErrExist at Close, and the other writer's object stays: the object
// is written with If-None-Match: *, so no check-then-write window is left.
func TestExclusiveUploadLosesRace(t *testing.T) {
	st, fsys, _, _ := setup(t, s3fs.Config{})
	f, err := fsys.OpenFile("/race.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("mine")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.client.PutObject(context.Background(), bucket, prefix+"race.txt", strings.NewReader("theirs"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Close = %v, want fs.ErrExist", err)
	}
	o, err := st.client.GetObject(context.Background(), bucket, prefix+"race.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(o)
	_ = o.Close()
	if string(got) != "theirs" {
		t.Fatalf("object = %q, want the other writer's", got)
	}
}

// TestTwoPartsInFlight: an upload sends its parts two at a time (the
// store holds part 1 until part 2 arrives, within a generous bound), and
// never more than two, and the object is whole.
func TestTwoPartsInFlight(t *testing.T) {
	st, _, c, _ := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	second := make(chan struct{})
	var once sync.Once
	var overlapped atomic.Bool
	hold := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || !r.URL.Query().Has("partNumber") {
			return false
		}
		switch r.URL.Query().Get("partNumber") {
		case "1":
			select {
			case <-second:
				overlapped.Store(true)
			case <-time.After(enginetest.Timeout):
			}
		case "2":
			once.Do(func() { close(second) })
		}
		return false
	}
	st.fault.Store(&hold)
	data := pattern(5*s3fs.MinPartSize + 3)
	if err := c.Stor("five.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if !overlapped.Load() {
		t.Fatal("part 2 was not sent while part 1 was in flight")
	}
	if m := st.partsMax.Load(); m != 2 {
		t.Fatalf("%d parts were sent at once, want 2", m)
	}
	if got := retr(t, c, "five.bin", 0); !bytes.Equal(got, data) {
		t.Fatalf("RETR: %d bytes, want %d equal", len(got), len(data))
	}
}

// TestNoLeakAfterDisconnects: clients that drop their connections in the
// middle of RETRs and of STORs (a part in flight) leave no goroutine and
// no connection behind: once the store's idle connections are closed,
// the goroutine count is back to what it was before them.
func TestNoLeakAfterDisconnects(t *testing.T) {
	st, _, c, addr := setup(t, s3fs.Config{PartSize: s3fs.MinPartSize})
	big := pattern(3 * s3fs.MinPartSize)
	if err := c.Stor("big.bin", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	_ = retr(t, c, "big.bin", 0)
	settle := func() int {
		st.transport.CloseIdleConnections()
		return runtime.NumGoroutine()
	}
	base := settle()
	const rounds = 10
	for i := range rounds {
		for _, verb := range []string{"RETR big.bin", fmt.Sprintf("STOR up%d.bin", i)} {
			rc, _, _ := enginetest.Dial(t, addr, "")
			rc.Expect("USER u", 331)
			rc.Expect("PASS p", 230)
			rc.Expect("TYPE I", 200)
			dc := rawPASV(t, rc)
			rc.Expect(verb, 150)
			if strings.HasPrefix(verb, "RETR") {
				if _, err := io.ReadFull(dc, make([]byte, 64<<10)); err != nil {
					t.Fatal(err)
				}
			} else {
				initiated := st.initiated.Load()
				if _, err := dc.Write(big[:s3fs.MinPartSize+1]); err != nil {
					t.Fatal(err)
				}
				enginetest.Eventually(t, "a part is sent", func() bool { return st.initiated.Load() > initiated })
			}
			// Dropped, not ended: EOF on a data connection would end
			// the upload normally (stream mode). A reset on both.
			for _, conn := range []net.Conn{rc.NetConn(), dc} {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = conn.Close()
			}
		}
	}
	// A leak holds at least one goroutine per dropped transfer (20);
	// the test's own client session may hold a couple.
	enginetest.Eventually(t, "every dropped upload aborted", func() bool { return st.aborted.Load() >= rounds })
	enginetest.Eventually(t, "the goroutines of dropped transfers to end", func() bool { return settle() <= base+2 })
	if st.aborted.Load() != rounds {
		t.Fatalf("%d uploads aborted, want %d (%d completed, keys %v)", st.aborted.Load(), rounds, st.completes.Load(), st.keys(t))
	}
}
