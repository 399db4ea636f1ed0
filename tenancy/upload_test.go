package tenancy

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// quotaTenant is acme with a byte quota, the case the findings were made
// on; extra goes after it.
func quotaTenant(t testing.TB, extra string) string {
	return acmeTOML(t, "[quota]\nbytes = 10000000\n"+extra)
}

// pattern returns n bytes that differ from another seed's.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

// rawUpload is an upload started by a raw session, whose data connection
// the test drives: send some bytes, stall, finish or abort.
type rawUpload struct {
	t    *testing.T
	c    *raw
	data net.Conn
}

// linker is a user of acme (append to acmeTOML) who shares alice's home
// and also has the symlink right, which "all" leaves out.
func linker(t testing.TB) string {
	return fmt.Sprintf(`
[[users]]
name = "sam"
password = %q
home = "/alice"
  [[users.permissions]]
  prefix = "/"
  allow = ["all", "symlink"]
`, testHash(t, "acme-sam"))
}

// rawLogin logs alice in on a raw session in binary mode.
func (f *fixture) rawLogin() *raw {
	f.t.Helper()
	return f.rawLoginAs("alice@acme", "acme-alice")
}

// rawLoginAs logs user in on a raw session in binary mode.
func (f *fixture) rawLoginAs(user, pass string) *raw {
	f.t.Helper()
	c := f.dialRaw()
	c.cmd("USER %s", user)
	if code, msg := c.cmd("PASS %s", pass); code != 230 {
		f.t.Fatalf("PASS: %d %s", code, msg)
	}
	if code, msg := c.cmd("TYPE I"); code != 200 {
		f.t.Fatalf("TYPE I: %d %s", code, msg)
	}
	return c
}

// epsv opens a passive data connection on c.
func (c *raw) epsv() net.Conn {
	c.t.Helper()
	code, msg := c.cmd("EPSV")
	if code != 229 {
		c.t.Fatalf("EPSV: %d %s", code, msg)
	}
	var port int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||")+4:], "%d", &port); err != nil {
		c.t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	dc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { dc.Close() })
	return dc
}

// startUpload sends cmds (REST, say), then verb path, expecting 150.
func (f *fixture) startUpload(c *raw, verb, p string, cmds ...string) *rawUpload {
	f.t.Helper()
	for _, cmd := range cmds {
		c.cmd("%s", cmd)
	}
	data := c.epsv()
	if code, msg := c.cmd("%s %s", verb, p); code != 150 {
		f.t.Fatalf("%s %s: %d %s", verb, p, code, msg)
	}
	return &rawUpload{t: f.t, c: c, data: data}
}

// send writes b on the data connection.
func (u *rawUpload) send(b []byte) {
	u.t.Helper()
	_ = u.data.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := u.data.Write(b); err != nil {
		u.t.Fatalf("sending: %v", err)
	}
}

// finish closes the data connection (the end of the file) and returns the
// transfer's reply.
func (u *rawUpload) finish() (int, string) {
	u.t.Helper()
	_ = u.data.Close()
	return u.c.read()
}

// abort sends ABOR and returns the transfer's reply and ABOR's.
func (u *rawUpload) abort() (xfer, abor int) {
	u.t.Helper()
	code, _ := u.c.cmd("ABOR")
	abor, _ = u.c.read()
	return code, abor
}

// fileSize returns a file's size, -1 when it cannot be read.
func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// tempFiles lists the temporary upload files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// uploadLanded reports whether an upload to target has written n bytes,
// to a temporary file next to it or (as before temporary files) to
// target itself.
func uploadLanded(t *testing.T, target string, n int64) bool {
	if fileSize(target) == n {
		return true
	}
	tmp := tempFiles(t, filepath.Dir(target))
	return len(tmp) == 1 && fileSize(filepath.Join(filepath.Dir(target), tmp[0])) == n
}

// assertFile fails unless the file at p holds want.
func assertFile(t *testing.T, what, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want the %d bytes expected", what, len(got), len(want))
	}
}

// usageOf returns acme's counted bytes and entries.
func (f *fixture) usageOf() (int64, int64) {
	return f.driver.state.Load().tenants["acme"].storage.usage.snapshot()
}

// TestAbortedUploadKeepsAnotherSessionsFile: A starts STOR report.bin and
// stalls; B stores report.bin (226); A's ABOR leaves B's file as it is
// and gives back only what A's upload counted.
func TestAbortedUploadKeepsAnotherSessionsFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	a := f.startUpload(f.rawLogin(), "STOR", "report.bin")
	a.send(pattern(100_000, 1))
	b := f.mustLogin("alice@acme", "acme-alice")
	want := pattern(500_000, 2)
	if err := b.Stor("report.bin", bytes.NewReader(want)); err != nil {
		t.Fatalf("B's STOR: %v", err)
	}
	if x, ab := a.abort(); x != 426 || ab != 226 {
		t.Fatalf("A's ABOR: transfer %d, ABOR %d; want 426, 226", x, ab)
	}
	assertFile(t, "report.bin after A's ABOR", target, want)
	if left := tempFiles(t, filepath.Dir(target)); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if used, _ := f.usageOf(); used != int64(len(want)) {
		t.Fatalf("bytes counted: %d, want %d", used, len(want))
	}
}

// TestStalledUploadKeepsAnotherSessionsFile: a first attempt stalls and
// fails with 426 after the retry got 226; the retry's file stays.
func TestStalledUploadKeepsAnotherSessionsFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       strings.Replace(serverTOML(""), `connection = "5s"`, `connection = "1s"`, 1),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	a := f.startUpload(f.rawLogin(), "STOR", "report.bin")
	a.send(pattern(100_000, 1))
	b := f.mustLogin("alice@acme", "acme-alice")
	want := pattern(500_000, 2)
	if err := b.Stor("report.bin", bytes.NewReader(want)); err != nil {
		t.Fatalf("retry's STOR: %v", err)
	}
	if code, msg := a.c.read(); code != 426 {
		t.Fatalf("stalled attempt: %d %s, want 426", code, msg)
	}
	assertFile(t, "report.bin after the stalled attempt failed", target, want)
	if used, _ := f.usageOf(); used != int64(len(want)) {
		t.Fatalf("bytes counted: %d, want %d", used, len(want))
	}
}

// TestAbortedAppendNeverTruncates: an APPE that stalls and aborts keeps
// what arrived and cuts nothing, neither another session's appended
// bytes nor a file stored over it meanwhile.
func TestAbortedAppendNeverTruncates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	b := f.mustLogin("alice@acme", "acme-alice")
	first := pattern(1000, 3)
	if err := b.Stor("report.bin", bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}

	t.Run("another APPE's bytes", func(t *testing.T) {
		a := f.startUpload(f.rawLogin(), "APPE", "report.bin")
		mine := pattern(100_000, 4)
		a.send(mine)
		waitFor(t, "A's bytes on disk", func() bool { return fileSize(target) == int64(len(first)+len(mine)) })
		theirs := pattern(500_000, 5)
		if err := b.Append("report.bin", bytes.NewReader(theirs)); err != nil {
			t.Fatalf("B's APPE: %v", err)
		}
		if x, _ := a.abort(); x != 426 {
			t.Fatalf("A's APPE after ABOR: %d, want 426", x)
		}
		want := append(append(append([]byte{}, first...), mine...), theirs...)
		assertFile(t, "report.bin after A's aborted APPE", target, want)
	})

	t.Run("a file stored over it", func(t *testing.T) {
		before := fileSize(target)
		a := f.startUpload(f.rawLogin(), "APPE", "report.bin")
		a.send(pattern(100_000, 6))
		waitFor(t, "A's bytes on disk", func() bool { return fileSize(target) == before+100_000 })
		want := pattern(500_000, 7)
		if err := b.Stor("report.bin", bytes.NewReader(want)); err != nil {
			t.Fatalf("B's STOR: %v", err)
		}
		if x, _ := a.abort(); x != 426 {
			t.Fatalf("A's APPE after ABOR: %d, want 426", x)
		}
		assertFile(t, "report.bin after A's aborted APPE", target, want)
	})

	t.Run("replaced meanwhile gets no 226", func(t *testing.T) {
		before := fileSize(target)
		a := f.startUpload(f.rawLogin(), "APPE", "report.bin")
		a.send(pattern(10_000, 8))
		waitFor(t, "A's bytes on disk", func() bool { return fileSize(target) == before+10_000 })
		want := pattern(2000, 9)
		if err := b.Stor("report.bin", bytes.NewReader(want)); err != nil {
			t.Fatalf("B's STOR: %v", err)
		}
		if code, msg := a.finish(); code != 451 {
			t.Fatalf("APPE whose file was replaced: %d %s, want 451", code, msg)
		}
		assertFile(t, "report.bin", target, want)
	})
}

// TestOverwriteKeepsOldFileUntilComplete: while an upload over a file runs,
// the old file is there whole (and the upload's temporary file is not
// listed); it is replaced only when the upload completes.
func TestOverwriteKeepsOldFileUntilComplete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	b := f.mustLogin("alice@acme", "acme-alice")
	old := pattern(100_000, 1)
	if err := b.Stor("report.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	a := f.startUpload(f.rawLogin(), "STOR", "report.bin")
	next := pattern(1000, 2)
	a.send(next)
	waitFor(t, "the upload's bytes on disk", func() bool { return uploadLanded(t, target, int64(len(next))) })
	assertFile(t, "report.bin during the overwrite", target, old)
	names, err := b.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || !strings.HasSuffix(names[0], "report.bin") {
		t.Fatalf("NLST during the upload: %q", names)
	}
	// The upload splices: it holds what it reserved for its step, at
	// most spliceStep, of which it wrote len(next) so far.
	if used, _ := f.usageOf(); used < int64(len(old)+len(next)) || used > int64(len(old)+spliceStep) {
		t.Fatalf("bytes counted during the upload: %d, want %d to %d (the temporary file counts, and the step it holds)", used, len(old)+len(next), len(old)+spliceStep)
	}
	if code, msg := a.finish(); code != 226 {
		t.Fatalf("overwrite: %d %s", code, msg)
	}
	assertFile(t, "report.bin after the overwrite", target, next)
	if used, files := f.usageOf(); used != int64(len(next)) || files != 2 {
		t.Fatalf("counted after the overwrite: %d bytes, %d entries; want %d, 2", used, files, len(next))
	}
}

// TestRefusedModeZUploadKeepsOldFile: a MODE Z upload refused with 552
// (it decompresses past the bound) leaves the old file.
func TestRefusedModeZUploadKeepsOldFile(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	}, func(s *engine.Settings) { s.MaxDecompressedUploadSize = 64 << 10 })
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	b := f.mustLogin("alice@acme", "acme-alice")
	old := pattern(100_000, 1)
	if err := b.Stor("report.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	c := f.rawLogin()
	if code, msg := c.cmd("MODE Z"); code != 200 {
		t.Fatalf("MODE Z: %d %s", code, msg)
	}
	a := f.startUpload(c, "STOR", "report.bin")
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	_, _ = a.data.Write(z.Bytes())
	if code, msg := a.finish(); code != 552 {
		t.Fatalf("MODE Z upload past the bound: %d %s, want 552", code, msg)
	}
	assertFile(t, "report.bin after the refused upload", target, old)
	if left := tempFiles(t, filepath.Dir(target)); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestShutdownMidUploadKeepsOldFile: a server stopped while an upload over
// a file runs leaves the old file and no temporary file.
func TestShutdownMidUploadKeepsOldFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data/acme/alice/report.bin")
	b := f.mustLogin("alice@acme", "acme-alice")
	old := pattern(100_000, 1)
	if err := b.Stor("report.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	a := f.startUpload(f.rawLogin(), "STOR", "report.bin")
	a.send(pattern(1000, 2))
	waitFor(t, "the upload's bytes on disk", func() bool { return uploadLanded(t, target, 1000) })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
	if code, _ := a.c.read(); code != 426 && code != 421 {
		t.Fatalf("the upload's reply at shutdown: %d, want 426 or 421", code)
	}
	assertFile(t, "report.bin after the shutdown", target, old)
	waitFor(t, "the temporary file to go", func() bool { return len(tempFiles(t, filepath.Dir(target))) == 0 })
}

// TestFailedRenameIntoPlaceIs451: when the rename into place fails (the
// name became a directory), the transfer gets 451, not 226, and leaves
// nothing behind.
func TestFailedRenameIntoPlaceIs451(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, ""),
	})
	dir := filepath.Join(f.dir, "data/acme/alice")
	a := f.startUpload(f.rawLogin(), "STOR", "x")
	a.send(pattern(1000, 1))
	b := f.mustLogin("alice@acme", "acme-alice")
	if err := b.MakeDir("x"); err != nil {
		t.Fatalf("MKD x during the upload of x: %v", err)
	}
	if err := b.Stor("x/inside", strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	if code, msg := a.finish(); code != 451 {
		t.Fatalf("upload whose name became a directory: %d %s, want 451", code, msg)
	}
	assertFile(t, "x/inside", filepath.Join(dir, "x/inside"), []byte("kept"))
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestResumptionsWriteInPlace: REST+STOR and APPE keep what arrived when
// they fail, so the next attempt resumes from SIZE.
func TestResumptionsWriteInPlace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": quotaTenant(t, ""),
	})
	target := filepath.Join(f.dir, "data/acme/alice/big.bin")
	content := pattern(300_000, 1)
	b := f.mustLogin("alice@acme", "acme-alice")
	if err := b.Stor("big.bin", bytes.NewReader(content[:100_000])); err != nil {
		t.Fatal(err)
	}
	a := f.startUpload(f.rawLogin(), "STOR", "big.bin", "REST 100000")
	a.send(content[100_000:150_000])
	waitFor(t, "the resumed bytes", func() bool { return fileSize(target) == 150_000 })
	if x, _ := a.abort(); x != 426 {
		t.Fatalf("aborted REST+STOR: %d", x)
	}
	size, err := b.FileSize("big.bin")
	if err != nil || size != 150_000 {
		t.Fatalf("SIZE after the aborted resumption: %d, %v; want 150000", size, err)
	}
	if err := b.Append("big.bin", bytes.NewReader(content[150_000:])); err != nil {
		t.Fatal(err)
	}
	assertFile(t, "big.bin after resuming twice", target, content)
	if used, _ := f.usageOf(); used != int64(len(content)) {
		t.Fatalf("bytes counted: %d, want %d", used, len(content))
	}
}

// TestSTOUNamesStayUnique: a running STOU holds its name, so a second
// STOU picks another, and a STOR that takes the name meanwhile wins: the
// STOU gets 451 and replaces nothing.
func TestSTOUNamesStayUnique(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":       serverTOML(""),
		"tenants/acme.toml": acmeTOML(t, ""),
	})
	dir := filepath.Join(f.dir, "data/acme/alice")
	c := f.rawLogin()
	data := c.epsv()
	code, msg := c.cmd("STOU report.txt")
	if code != 150 || !strings.Contains(msg, "report.txt") {
		t.Fatalf("STOU report.txt: %d %s", code, msg)
	}
	a := &rawUpload{t: t, c: c, data: data}
	a.send([]byte("stou's"))

	c2 := f.rawLogin()
	data2 := c2.epsv()
	code, msg = c2.cmd("STOU report.txt")
	if code != 150 || strings.HasSuffix(msg, " report.txt") {
		t.Fatalf("second STOU report.txt while the first runs: %d %s, want another name", code, msg)
	}
	_ = data2.Close()
	if code, msg := c2.read(); code != 226 {
		t.Fatalf("second STOU: %d %s", code, msg)
	}

	b := f.mustLogin("alice@acme", "acme-alice")
	if err := b.Stor("report.txt", strings.NewReader("stor's")); err != nil {
		t.Fatal(err)
	}
	if code, msg := a.finish(); code != 451 {
		t.Fatalf("STOU whose name a STOR took: %d %s, want 451", code, msg)
	}
	assertFile(t, "report.txt", filepath.Join(dir, "report.txt"), []byte("stor's"))
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestMemoryBackendUploads: the memory backend renames into place too:
// an aborted overwrite leaves the old file, a completed one replaces it,
// and an APPE whose file was replaced gets 451.
func TestMemoryBackendUploads(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml":      serverTOML("default = \"mem\"\n"),
		"tenants/mem.toml": memoryTenant(t, "[quota]\nbytes = 10000000\n"),
	})
	st := f.driver.state.Load().tenants["mem"].storage
	read := func() string {
		b, err := afero.ReadFile(st.fs, "/ann/r.bin")
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	ann := f.mustLogin("ann", "ann-pw")
	if err := ann.Stor("r.bin", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	a := f.startUpload(f.rawLoginAs("ann", "ann-pw"), "STOR", "r.bin")
	a.send([]byte("partial"))
	if x, _ := a.abort(); x != 426 {
		t.Fatalf("ABOR: %d", x)
	}
	if got := read(); got != "old" {
		t.Fatalf("after an aborted overwrite: %q", got)
	}
	a = f.startUpload(f.rawLoginAs("ann", "ann-pw"), "APPE", "r.bin")
	a.send([]byte("+more"))
	waitFor(t, "the appended bytes", func() bool { return read() == "old+more" })
	if err := ann.Stor("r.bin", strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	if code, msg := a.finish(); code != 451 {
		t.Fatalf("APPE whose file was replaced: %d %s, want 451", code, msg)
	}
	if got := read(); got != "new" {
		t.Fatalf("after the overwrite: %q", got)
	}
	names, err := afero.ReadDir(st.fs, "/ann")
	if err != nil || len(names) != 1 {
		t.Fatalf("ann's directory: %v, %v", names, err)
	}
}
