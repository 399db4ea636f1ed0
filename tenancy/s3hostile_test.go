package tenancy

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
// copies and deletes nothing outside the directory.
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
