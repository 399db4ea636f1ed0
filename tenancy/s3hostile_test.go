package tenancy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/tenancy/internal/s3fs"
	"github.com/jlaffaye/ftp"
)

// A store that misbehaves: each test here sets fakeS3.fault to answer
// some of s3fs's requests wrongly and drives the tenant through a real
// FTP client, asserting what the user sees.

// isList reports whether r is a ListObjectsV2 request under prefix.
func isList(r *http.Request, prefix string) bool {
	q := r.URL.Query()
	return r.Method == http.MethodGet && q.Get("list-type") == "2" && strings.HasPrefix(q.Get("prefix"), prefix)
}

// listReply answers a ListObjectsV2 with keys and common prefixes as
// given (URL-encoded, as minio-go asks for, so any byte may be sent).
func listReply(w http.ResponseWriter, r *http.Request, keys, prefixes []string, truncated bool, next string) {
	w.Header().Set("Content-Type", "application/xml")
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>data</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>%s</Delimiter><EncodingType>url</EncodingType><IsTruncated>%v</IsTruncated>`,
		url.QueryEscape(r.URL.Query().Get("prefix")), len(keys)+len(prefixes), url.QueryEscape(r.URL.Query().Get("delimiter")), truncated)
	if next != "" {
		fmt.Fprintf(&b, `<NextContinuationToken>%s</NextContinuationToken>`, next)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, `<Contents><Key>%s</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>"0"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>`, url.QueryEscape(k))
	}
	for _, p := range prefixes {
		fmt.Fprintf(&b, `<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>`, url.QueryEscape(p))
	}
	b.WriteString(`</ListBucketResult>`)
	_, _ = io.WriteString(w, b.String())
}

// nlst returns NLST's names, sorted.
func nlst(t *testing.T, c *ftp.ServerConn, dir string) ([]string, error) {
	t.Helper()
	names, err := c.NameList(dir)
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, dir+"/")
	}
	sort.Strings(names)
	return names, err
}

// TestS3HostileListingKeys: a listing whose keys lie outside the
// directory listed (another tenant's prefix, a key shorter than the
// prefix, a common prefix elsewhere), or hold "..", NUL, CR/LF, invalid
// UTF-8, or run past any length limit, shows none of them: LIST, NLST and
// MLSD end with 226 and show only the good names; the server stays up
// (a key shorter than the prefix once crashed the process with a slice
// bound panic). A directory rename whose listing holds a foreign key
// copies and deletes nothing outside the directory, and a foreign key
// makes no directory exist.
func TestS3HostileListingKeys(t *testing.T) {
	s := newFakeS3(t)
	s.put(t, "tenants/acme/alice/good.txt", "abc")
	s.put(t, "tenants/acme/alice/d/in.txt", "in")
	s.put(t, "tenants/globex/secret.txt", "secret")
	f := newS3Fixture(t, s, "", "")
	c := f.mustLogin("alice", "alice-pw")

	home := "tenants/acme/alice/"
	bad := []string{
		"tenants/globex/secret.txt", // another tenant's
		"x",                         // shorter than the prefix
		home + "../../globex/secret.txt",
		home + "a\x00b",
		home + "evil\r\n226 injected",
		home + "bad\xff\xfe",
		home + strings.Repeat("L", 5000),
		home + "sub/deeper.txt", // under a delimiter, not a direct child
	}
	var lists atomic.Int32
	fault := func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case isList(r, home+"ghost/"):
			// A store that ignores the prefix: the first key of the
			// bucket, which is not under ghost/.
			listReply(w, r, []string{"tenants/globex/secret.txt"}, nil, false, "")
			return true
		case isList(r, home+"d/") && r.URL.Query().Get("delimiter") == "":
			// The rename's listing of d/: one foreign key among its own.
			listReply(w, r, []string{home + "d/in.txt", "tenants/globex/secret.txt", "y"}, nil, false, "")
			return true
		case isList(r, home) && r.URL.Query().Get("prefix") == home && r.URL.Query().Get("delimiter") == "/":
			lists.Add(1)
			listReply(w, r, append([]string{home + "good.txt"}, bad...), []string{home + "d/", "tenants/globex/", "z/", home + "../", home + "\r\n/"}, false, "")
			return true
		}
		return false
	}
	s.fault.Store(&fault)

	names, err := nlst(t, c, "")
	if err != nil || strings.Join(names, ",") != "d,good.txt" {
		t.Fatalf("NLST = %q, %v; want only d and good.txt", names, err)
	}
	entries, err := c.List("")
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "d,good.txt" {
		t.Fatalf("LIST = %q; want only d and good.txt", got)
	}
	if lists.Load() < 2 {
		t.Fatalf("the hostile listing was asked %d times", lists.Load())
	}
	if _, err := c.CurrentDir(); err != nil {
		t.Fatalf("the server did not survive the listing: %v", err)
	}
	// STAT lists on the control connection: a key with CR/LF must not
	// add a reply there.
	rc := f.dialRaw()
	rc.cmd("USER alice")
	if code, _ := rc.cmd("PASS alice-pw"); code != 230 {
		t.Fatal("login")
	}
	code, text := rc.cmd("STAT .")
	if code/100 != 2 || strings.Contains(text, "injected") || !strings.Contains(text, "good.txt") {
		t.Fatalf("STAT . = %d %q", code, text)
	}
	if code, _ := rc.cmd("NOOP"); code != 200 {
		t.Fatalf("NOOP after STAT = %d: the listing added a reply", code)
	}

	// A directory exists only when a key lies under it.
	if err := c.ChangeDir("ghost"); replyCode(err) != 550 {
		t.Fatalf("CWD to a directory the store only pretends: %v, want 550", err)
	}
	if err := c.Rename("d", "e"); err != nil {
		t.Fatalf("RNFR/RNTO d e: %v", err)
	}
	s.fault.Store(nil)
	if got, ok := s.get(t, "tenants/globex/secret.txt"); !ok || got != "secret" {
		t.Fatalf("another tenant's object after a rename: %q, %v", got, ok)
	}
	if got, ok := s.get(t, "tenants/acme/alice/e/in.txt"); !ok || got != "in" {
		t.Fatalf("renamed object: %q, %v", got, ok)
	}
	for _, k := range []string{"tenants/acme/alice/e/secret.txt", "tenants/acme/alice/e/", "tenants/acme/alice/elobex/secret.txt"} {
		if _, ok := s.get(t, k); ok {
			t.Fatalf("%s was made from a foreign key", k)
		}
	}
}

// tookUnder fails the test when d has passed since start.
func tookUnder(t *testing.T, start time.Time, d time.Duration, what string) {
	t.Helper()
	if took := time.Since(start); took > d {
		t.Fatalf("%s took %v, want under %v", what, took, d)
	}
}

// hostileTimeout is the storage timeout of the tests below: short, so
// that a store that never answers fails a command fast.
const hostileTimeout = 200 * time.Millisecond

// hostile serves alice's tenant on a fake store whose requests fault may
// answer, with the storage timeout hostileTimeout; released is closed
// when the test ends (before the store closes), so that a fault holding
// a request can let it go.
func hostile(t *testing.T, fault func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) bool) (*fakeS3, *ftp.ServerConn) {
	t.Helper()
	s := newFakeS3(t)
	s.put(t, "tenants/acme/alice/f.bin", strings.Repeat("0123456789", 10000))
	released := make(chan struct{})
	t.Cleanup(func() { close(released) })
	// Parts of 5 MiB, the smallest, so that a multipart upload is cheap.
	f := newS3Fixture(t, s, fmt.Sprintf("timeout = %q\npart_size = \"5M\"\n", hostileTimeout.String()), "")
	c := f.mustLogin("alice", "alice-pw")
	fn := func(w http.ResponseWriter, r *http.Request) bool { return fault(w, r, released) }
	s.fault.Store(&fn)
	return s, c
}

// hold keeps a request unanswered until the client gives up on it or the
// test ends.
func hold(r *http.Request, released <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-released:
	}
}

// TestS3HostileListings: a listing that never answers, trickles its body
// without end, repeats its continuation token, sends empty truncated
// pages for ever, sends a body of a gigabyte, elements nested 100,000
// deep, a megabyte of headers, or 100,000 keys in one page, ends NLST (and LIST) with 451 within a few request timeouts,
// having read a bounded part of the reply; the session goes on.
func TestS3HostileListings(t *testing.T) {
	home := "tenants/acme/alice/"
	entry := func(i int) string {
		return fmt.Sprintf(`<Contents><Key>%sk%07d</Key><Size>1</Size></Contents>`, home, i)
	}
	cases := []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request, released <-chan struct{}, sent *atomic.Int64)
	}{
		{"no headers", func(w http.ResponseWriter, r *http.Request, released <-chan struct{}, _ *atomic.Int64) {
			hold(r, released)
		}},
		{"body trickles", func(w http.ResponseWriter, r *http.Request, released <-chan struct{}, _ *atomic.Int64) {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>data</Name>`)
			w.(http.Flusher).Flush()
			hold(r, released)
		}},
		{"token repeats", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, _ *atomic.Int64) {
			listReply(w, r, []string{home + "same.txt"}, nil, true, "again")
		}},
		{"empty pages for ever", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, sent *atomic.Int64) {
			listReply(w, r, nil, nil, true, fmt.Sprintf("t%d", sent.Add(1)))
		}},
		{"foreign keys for ever", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, sent *atomic.Int64) {
			listReply(w, r, []string{"elsewhere/x"}, nil, true, fmt.Sprintf("t%d", sent.Add(1)))
		}},
		{"a gigabyte", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, sent *atomic.Int64) {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>data</Name><Prefix></Prefix><IsTruncated>false</IsTruncated>`)
			// One key of 64 KiB of text, repeated: few tags, many bytes.
			chunk := []byte(`<Contents><Key>` + strings.Repeat("a", 64<<10) + `</Key></Contents>`)
			for i := 0; i < (1<<30)/len(chunk); i++ {
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		}},
		{"nested 100,000 deep", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, _ *atomic.Int64) {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>data</Name>`+strings.Repeat("<Contents>", 100000))
		}},
		{"a megabyte of headers", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, _ *atomic.Int64) {
			for i := range 16 {
				w.Header().Set(fmt.Sprintf("X-Amz-Meta-Pad%d", i), strings.Repeat("p", 64<<10))
			}
			listReply(w, r, []string{home + "k"}, nil, false, "")
		}},
		{"100,000 keys in one page", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}, sent *atomic.Int64) {
			var b strings.Builder
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>data</Name><IsTruncated>false</IsTruncated>`)
			for i := range 100000 {
				b.WriteString(entry(i))
			}
			b.WriteString(`</ListBucketResult>`)
			n, _ := io.WriteString(w, b.String())
			sent.Add(int64(n))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sent atomic.Int64
			_, c := hostile(t, func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) bool {
				if !isList(r, home) || r.URL.Query().Get("delimiter") != "/" {
					return false
				}
				select {
				case <-released: // the test is over: a plain empty listing
					listReply(w, r, nil, nil, false, "")
				default:
					tc.fault(w, r, released, &sent)
				}
				return true
			})
			start := time.Now()
			_, err := c.NameList("")
			if replyCode(err) != 451 {
				t.Fatalf("NLST = %v, want 451", err)
			}
			// One timeout by design; the rest is slack for a loaded machine
			// (without the bounds NLST hangs, or reads a gigabyte).
			tookUnder(t, start, 10*hostileTimeout+2*time.Second, "NLST")
			if n := sent.Load(); n > 64<<20 {
				t.Fatalf("the store got to send %d bytes of one listing", n)
			}
			if _, err := c.FileSize("f.bin"); err != nil {
				t.Fatalf("SIZE after the listing: %v", err)
			}
		})
	}
}

// isObject reports whether r is a request for alice's object name.
func isObject(r *http.Request, method, name string) bool {
	return r.Method == method && r.URL.RawQuery == "" && strings.HasSuffix(r.URL.Path, "/tenants/acme/alice/"+name)
}

// TestS3HostileDownloads: a GET that never sends its headers, stalls
// mid-body, answers REST's range with the whole object (200), redirects
// to another host, or sends more bytes than the object has, never ends
// RETR with 226 and wrong bytes, and ends it within a few request
// timeouts; the session goes on.
func TestS3HostileDownloads(t *testing.T) {
	object := strings.Repeat("0123456789", 10000)
	other := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a redirect was followed: %s %s", r.Method, r.URL)
	})
	cases := []struct {
		name   string
		offset uint64
		want   string // "": an error, not 226
		fault  func(w http.ResponseWriter, r *http.Request, released <-chan struct{})
	}{
		{"no headers", 0, "", func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) {
			hold(r, released)
		}},
		{"stalls mid-body", 0, "", func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) {
			w.Header().Set("Content-Length", strconv.Itoa(len(object)))
			objectHeaders(w, r)
			_, _ = io.WriteString(w, object[:1000])
			w.(http.Flusher).Flush()
			hold(r, released)
		}},
		{"range ignored", 50000, "", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			w.Header().Set("Content-Length", strconv.Itoa(len(object)))
			objectHeaders(w, r)
			_, _ = io.WriteString(w, object)
		}},
		{"redirect", 0, "", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			http.Redirect(w, r, other+r.URL.Path, http.StatusTemporaryRedirect)
		}},
		{"longer than the object", 0, object, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			w.Header().Set("Content-Length", strconv.Itoa(2*len(object)))
			objectHeaders(w, r)
			_, _ = io.WriteString(w, object+object)
		}},
		{"a byte per GET", 0, "", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			start := 0
			if rg := r.Header.Get("Range"); rg != "" {
				_, _ = fmt.Sscanf(rg, "bytes=%d-", &start)
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(object)-1, len(object)))
			}
			w.Header().Set("Content-Length", "1")
			objectHeaders(w, r)
			_, _ = io.WriteString(w, object[start:start+1])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := hostile(t, func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) bool {
				if !isObject(r, http.MethodGet, "f.bin") {
					return false
				}
				select {
				case <-released:
					http.Error(w, "over", http.StatusServiceUnavailable)
				default:
					tc.fault(w, r, released)
				}
				return true
			})
			start := time.Now()
			rd, err := c.RetrFrom("f.bin", tc.offset)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(rd)
				if cerr := rd.Close(); err == nil {
					err = cerr
				}
			}
			// At most one timeout, or maxPoorResumes backoffs of 200 ms, by
			// design; the rest is slack (without the bounds RETR hangs, or
			// takes a GET and a backoff per byte).
			tookUnder(t, start, 8*hostileTimeout+3*time.Second, "RETR")
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("RETR ended with 226 after %d bytes, want an error", len(got))
			case tc.want == "" && replyCode(err) != 451 && replyCode(err) != 426:
				t.Fatalf("RETR = %v, want 451 or 426", err)
			case tc.want != "" && (err != nil || string(got) != tc.want):
				t.Fatalf("RETR = %d bytes, %v; want the object's %d", len(got), err, len(tc.want))
			case tc.want == "" && len(got) > 0 && !strings.HasPrefix(object[tc.offset:], string(got)):
				t.Fatalf("RETR sent %d bytes that are not the object's", len(got))
			}
			if _, err := c.FileSize("f.bin"); err != nil {
				t.Fatalf("SIZE after the download: %v", err)
			}
		})
	}
}

// objectHeaders sets what an object GET's reply must carry for
// minio-go: the ETag asked for and a time.
func objectHeaders(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", r.Header.Get("If-Match"))
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
}

// httptestServer is a plain server on 127.0.0.1; it returns its URL.
func httptestServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestS3HostileUploads: a store that answers CompleteMultipartUpload
// with 200 and an error document, or never answers the PUT that makes a
// small object, never lets STOR end with 226: 451, within the bound of
// such requests, and no object appears.
func TestS3HostileUploads(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		fault func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) bool
	}{
		{"complete: 200 with an error", s3fs.MinPartSize + 1, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) bool {
			if r.Method != http.MethodPost || !r.URL.Query().Has("uploadId") {
				return false
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n  "+`<Error><Code>InvalidPart</Code><Message>One or more of the specified parts could not be found.</Message></Error>`)
			return true
		}},
		{"put: no answer", 10, func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) bool {
			if !isObject(r, http.MethodPut, "new.bin") {
				return false
			}
			hold(r, released)
			return true
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := hostile(t, func(w http.ResponseWriter, r *http.Request, released <-chan struct{}) bool {
				select {
				case <-released:
					return false
				default:
					return tc.fault(w, r, released)
				}
			})
			start := time.Now()
			err := c.Stor("new.bin", strings.NewReader(strings.Repeat("x", tc.size)))
			if replyCode(err) != 451 {
				t.Fatalf("STOR = %v, want 451", err)
			}
			// Ten timeouts by design (sendTimeout); the rest is slack.
			tookUnder(t, start, 10*hostileTimeout+4*time.Second, "STOR")
			s.fault.Store(nil)
			if _, ok := s.get(t, "tenants/acme/alice/new.bin"); ok {
				t.Fatal("an object appeared for a STOR that failed")
			}
		})
	}
}

// TestS3EndlessListingDoesNotHoldClose: a store whose listing pages on
// without end (each page a new key and a new token: as a huge bucket
// looks) keeps the usage count of a tenant with a quota going, which is
// right while the server runs; but closing the driver (shutdown, SIGTERM) must end that
// count, not wait for it for ever.
func TestS3EndlessListingDoesNotHoldClose(t *testing.T) {
	s := newFakeS3(t)
	var pages atomic.Int64
	endless := func(w http.ResponseWriter, r *http.Request) bool {
		if !isList(r, "tenants/acme/") || r.URL.Query().Get("delimiter") != "" {
			return false
		}
		n := pages.Add(1)
		listReply(w, r, []string{fmt.Sprintf("%sk%09d", r.URL.Query().Get("prefix"), n)}, nil, true, fmt.Sprintf("t%d", n))
		return true
	}
	f := newS3Fixture(t, s, "", "")
	// A quota that appears recounts (the fixture's own reload would wait
	// for the count, so the driver is reloaded directly).
	s.fault.Store(&endless)
	f.writeFile("tenants/acme.toml", s3TenantTOML(t, "acme", s.url, "tenants/acme", "", "[quota]\nbytes = 1000000\n"))
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.driver.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	enginetest.Eventually(t, "the usage count paging", func() bool { return pages.Load() > 3 })
	closed := make(chan struct{})
	go func() {
		_ = f.driver.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		s.fault.Store(nil) // let the listing end, so that the test's own cleanup can close
		<-closed
		t.Fatal("Close waited for a usage count that does not end")
	}
}
