package engine

import (
	"bytes"
	"crypto/tls"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// ptClientDial connects github.com/jlaffaye/ftp to the server and logs in.
func ptClientDial(t *testing.T, ts *testServer, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(5 * time.Second)}, opts...)
	c, err := ftp.Dial(ts.addr, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login("test", "test"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

// ptClientRetr downloads a whole file with the client.
func ptClientRetr(t *testing.T, c *ftp.ServerConn, name string, offset uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, offset)
	if err != nil {
		t.Fatalf("RetrFrom(%s, %d): %v", name, offset, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
	return b
}

// ptClientFlows runs the main flows of a client session.
func ptClientFlows(t *testing.T, ts *testServer, c *ftp.ServerConn) {
	t.Helper()
	fs := ts.driver.fs
	content := ptRandom(3<<20 + 11)

	if err := c.MakeDir("work dir"); err != nil {
		t.Fatalf("MakeDir: %v", err)
	}
	if err := c.ChangeDir("work dir"); err != nil {
		t.Fatalf("ChangeDir: %v", err)
	}
	if dir, err := c.CurrentDir(); err != nil || dir != "/work dir" {
		t.Fatalf("CurrentDir: %q %v", dir, err)
	}
	if err := c.Stor("data.bin", bytes.NewReader(content)); err != nil {
		t.Fatalf("Stor: %v", err)
	}
	if err := c.Stor("empty", bytes.NewReader(nil)); err != nil {
		t.Fatalf("Stor of an empty file: %v", err)
	}
	ptAssertBytes(t, "stored", ptReadFile(t, fs, "/work dir/data.bin"), content)
	ptAssertBytes(t, "Retr", ptClientRetr(t, c, "data.bin", 0), content)
	ptAssertBytes(t, "RetrFrom", ptClientRetr(t, c, "data.bin", 1000), content[1000:])
	if got := ptClientRetr(t, c, "empty", 0); len(got) != 0 {
		t.Fatalf("Retr of an empty file: %d bytes", len(got))
	}
	if size, err := c.FileSize("data.bin"); err != nil || size != int64(len(content)) {
		t.Fatalf("FileSize: %d %v", size, err)
	}
	if err := c.Append("data.bin", strings.NewReader("tail")); err != nil {
		t.Fatalf("Append: %v", err)
	}
	ptAssertBytes(t, "appended", ptReadFile(t, fs, "/work dir/data.bin"), append(slices.Clone(content), "tail"...))

	entries, err := c.List("")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	sizes := map[string]uint64{}
	for _, e := range entries {
		if e.Type != ftp.EntryTypeFile {
			t.Errorf("List entry %q has type %v", e.Name, e.Type)
		}
		sizes[e.Name] = e.Size
	}
	if len(sizes) != 2 || sizes["data.bin"] != uint64(len(content)+4) || sizes["empty"] != 0 {
		t.Fatalf("List: %v", sizes)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatalf("ChangeDirToParent: %v", err)
	}
	names, err := c.NameList("work dir")
	if err != nil {
		t.Fatalf("NameList: %v", err)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"work dir/data.bin", "work dir/empty"}) {
		t.Fatalf("NameList: %q", names)
	}
	entries, err = c.List("/")
	if err != nil || len(entries) != 1 || entries[0].Name != "work dir" || entries[0].Type != ftp.EntryTypeFolder {
		t.Fatalf("List /: %v %v", entries, err)
	}

	if err := c.Rename("work dir/data.bin", "renamed.bin"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	ptAssertMissing(t, fs, "/work dir/data.bin")
	if err := c.Delete("renamed.bin"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	ptAssertMissing(t, fs, "/renamed.bin")
	if err := c.Delete("renamed.bin"); err == nil {
		t.Fatal("Delete of a missing file succeeded")
	}
	if _, err := c.Retr("missing"); err == nil {
		t.Fatal("Retr of a missing file succeeded")
	}
	if err := c.RemoveDir("work dir"); err == nil {
		t.Fatal("RemoveDir of a non-empty directory succeeded")
	}
	if err := c.RemoveDirRecur("work dir"); err != nil {
		t.Fatalf("RemoveDirRecur: %v", err)
	}
	ptAssertMissing(t, fs, "/work dir")
	if err := c.NoOp(); err != nil {
		t.Fatalf("NoOp: %v", err)
	}
}

func TestJlaffayeClient(t *testing.T) {
	t.Parallel()
	clientTLS := &tls.Config{InsecureSkipVerify: true} // the test certificate is self-signed
	for _, tc := range []struct {
		name string
		tls  bool
		opts []ftp.DialOption
	}{
		{"EPSV", false, nil},
		{"PASV", false, []ftp.DialOption{ftp.DialWithDisabledEPSV(true)}},
		// Without MLSD the client parses ls -l listings.
		{"LIST parsing", false, []ftp.DialOption{ftp.DialWithDisabledMLSD(true)}},
		{"explicit TLS", true, []ftp.DialOption{ftp.DialWithExplicitTLS(clientTLS)}},
		{"explicit TLS and PASV", true, []ftp.DialOption{ftp.DialWithExplicitTLS(clientTLS), ftp.DialWithDisabledEPSV(true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []serverOption
			if tc.tls {
				opts = append(opts, withTLS())
			}
			ts := newTestServer(t, opts...)
			c := ptClientDial(t, ts, tc.opts...)
			ptClientFlows(t, ts, c)
			if tc.tls {
				ptAssertSessionsUsedTLS(t, ts)
			}
		})
	}
}

// ptAssertSessionsUsedTLS fails unless every session of ts protected its
// control connection and its transfers.
func ptAssertSessionsUsedTLS(t *testing.T, ts *testServer) {
	t.Helper()
	ts.driver.mu.Lock()
	defer ts.driver.mu.Unlock()
	if len(ts.driver.contexts) == 0 {
		t.Fatal("no session")
	}
	for _, cc := range ts.driver.contexts {
		if !cc.HasTLSForControl() || !cc.HasTLSForTransfers() {
			t.Fatalf("session %d: control TLS %v, transfer TLS %v", cc.ID(), cc.HasTLSForControl(), cc.HasTLSForTransfers())
		}
	}
}

func TestJlaffayeClientWrongPassword(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, err := ftp.Dial(ts.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Quit() }()
	if err := c.Login("test", "wrong"); err == nil || !strings.HasPrefix(err.Error(), "530") {
		t.Fatalf("Login with a wrong password: %v", err)
	}
	if err := c.Login("test", "test"); err != nil {
		t.Fatalf("Login after a failed one: %v", err)
	}
}

func TestJlaffayeClientModTime(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	c := ptClientDial(t, ts)
	when := time.Date(2019, 8, 7, 6, 5, 4, 0, time.UTC)
	if !c.IsSetTimeSupported() {
		t.Fatal("the client sees no way to set times (MFMT)")
	}
	if err := c.SetTime("f", when); err != nil {
		t.Fatalf("SetTime: %v", err)
	}
	if got, err := c.GetTime("f"); err != nil || !got.Equal(when) {
		t.Fatalf("GetTime: %v %v", got, err)
	}
	if e, err := c.GetEntry("f"); err != nil || !e.Time.Equal(when) || e.Size != 1 {
		t.Fatalf("GetEntry (MLST): %+v %v", e, err)
	}
}

func TestJlaffayeClientOverOSFs(t *testing.T) {
	t.Parallel()
	fs, _ := ptOSFs(t)
	ts := newTestServer(t, withFs(fs))
	c := ptClientDial(t, ts)
	ptClientFlows(t, ts, c)
}
