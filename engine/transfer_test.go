package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

func TestSTORAndRETRRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	content := ptRandom(300 << 10)
	c.stor("f.bin", content)
	ptAssertBytes(t, "stored", ptReadFile(t, ts.driver.fs, "/f.bin"), content)
	ptAssertBytes(t, "retrieved", c.retr("f.bin"), content)
	// STOR replaces a longer file entirely.
	c.stor("f.bin", []byte("short"))
	ptAssertBytes(t, "replaced", ptReadFile(t, ts.driver.fs, "/f.bin"), []byte("short"))
	c.expect("SIZE f.bin", 213)
}

func TestZeroByteFile(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	c.stor("empty", nil)
	if fi, err := ts.driver.fs.Stat("/empty"); err != nil || fi.Size() != 0 {
		t.Fatalf("stored empty file: %v", err)
	}
	if got := c.retr("empty"); len(got) != 0 {
		t.Fatalf("RETR of an empty file gave %d bytes", len(got))
	}
	if text := c.expect("SIZE empty", 213); text != "0" {
		t.Fatalf("SIZE: %q", text)
	}
	c.expect("REST 0", 350)
	if got := c.retr("empty"); len(got) != 0 {
		t.Fatalf("RETR after REST 0 gave %d bytes", len(got))
	}
}

func TestLargeFileIsByteExact(t *testing.T) {
	t.Parallel()
	content := ptRandom(20 << 20)
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (afero.Fs, func(string) []byte)
	}{
		{"memory", func(t *testing.T) (afero.Fs, func(string) []byte) {
			fs := afero.NewMemMapFs()
			return fs, func(name string) []byte { return ptReadFile(t, fs, name) }
		}},
		// On disk the copies take sendfile and splice.
		{"disk", func(t *testing.T) (afero.Fs, func(string) []byte) {
			fs, dir := ptOSFs(t)
			return fs, func(name string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs, onDisk := tc.fs(t)
			c := newTestServer(t, withFs(fs)).login(t)
			c.stor("big.bin", content)
			ptAssertBytes(t, "stored", onDisk("/big.bin"), content)
			ptAssertBytes(t, "retrieved", c.retr("big.bin"), content)
		})
	}
}

func TestUploadsToDiskLandByteExact(t *testing.T) {
	t.Parallel()
	fs, dir := ptOSFs(t)
	ptMkdir(t, fs, "/in")
	c := newTestServer(t, withFs(fs)).login(t)
	files := map[string][]byte{
		"in/small.txt":  []byte("hello\n"),
		"in/binary.bin": ptRandom(1<<20 + 7),
		"in/empty":      nil,
	}
	for name, content := range files {
		c.stor(name, content)
	}
	for name, content := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		ptAssertBytes(t, name, got, content)
	}
}

func TestAPPE(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/log", []byte("first\n"))
	c := ts.login(t)
	ptAPPE(t, c, "log", []byte("second\n"))
	ptAPPE(t, c, "log", []byte("third\n"))
	if got := ptReadFile(t, fs, "/log"); string(got) != "first\nsecond\nthird\n" {
		t.Fatalf("appended file: %q", got)
	}
	ptAPPE(t, c, "new", []byte("created"))
	if got := ptReadFile(t, fs, "/new"); string(got) != "created" {
		t.Fatalf("APPE to a new file: %q", got)
	}
	// APPE ignores REST: it always appends.
	c.expect("REST 2", 350)
	ptAPPE(t, c, "new", []byte("!"))
	if got := ptReadFile(t, fs, "/new"); string(got) != "created!" {
		t.Fatalf("APPE after REST: %q", got)
	}
}

func TestAPPEOnDisk(t *testing.T) {
	t.Parallel()
	fs, dir := ptOSFs(t)
	ptWriteFile(t, fs, "/log", []byte("one "))
	c := newTestServer(t, withFs(fs)).login(t)
	ptAPPE(t, c, "log", []byte("two"))
	if got, err := os.ReadFile(filepath.Join(dir, "log")); err != nil || string(got) != "one two" {
		t.Fatalf("appended file on disk: %q %v", got, err)
	}
}

// ptAPPE appends over EPSV.
func ptAPPE(t *testing.T, c *rawClient, name string, content []byte) {
	t.Helper()
	data := c.epsv()
	c.expect("APPE "+name, 150)
	if _, err := data.Write(content); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	c.expectRead(226)
}

var ptStouName = regexp.MustCompile(`stored as (/\S+)\.$`)

// ptSTOU uploads with STOU and returns the 150 text and the stored path.
func ptSTOU(t *testing.T, c *rawClient, line string, content []byte) (string, string) {
	t.Helper()
	data := c.epsv()
	opening := c.expect(line, 150)
	if _, err := data.Write(content); err != nil {
		t.Fatal(err)
	}
	_ = data.Close()
	m := ptStouName.FindStringSubmatch(c.expectRead(226))
	if m == nil {
		t.Fatalf("%s: the 226 reply does not name the file", line)
	}
	return opening, m[1]
}

func TestSTOUStoresUnderAUniqueName(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/taken.txt", []byte("old"))
	c := ts.login(t)

	opening, first := ptSTOU(t, c, "STOU", []byte("one"))
	// RFC 1123 4.1.2.9: the 150 reply names the file.
	if opening != "FILE: "+first[1:] {
		t.Fatalf("150 %q for %s", opening, first)
	}
	_, second := ptSTOU(t, c, "STOU", []byte("two"))
	if first == second {
		t.Fatalf("two STOU got the same name %s", first)
	}
	_, taken := ptSTOU(t, c, "STOU taken.txt", []byte("three"))
	if taken == "/taken.txt" || !strings.HasPrefix(taken, "/taken.txt.") {
		t.Fatalf("STOU taken.txt stored as %s", taken)
	}
	_, free := ptSTOU(t, c, "STOU free.txt", []byte("four"))
	if free != "/free.txt" {
		t.Fatalf("STOU free.txt stored as %s", free)
	}
	for name, want := range map[string]string{first: "one", second: "two", taken: "three", free: "four", "/taken.txt": "old"} {
		if got := ptReadFile(t, fs, name); string(got) != want {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
	}
	// The name given back can be used as it is.
	if got := c.retr(first); string(got) != "one" {
		t.Fatalf("RETR %s: %q", first, got)
	}
}

func TestRESTAndSTORResumesAnUpload(t *testing.T) {
	t.Parallel()
	content := ptRandom(256<<10 + 3)
	half := int64(len(content) / 2)
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) afero.Fs
	}{
		{"memory", func(*testing.T) afero.Fs { return afero.NewMemMapFs() }},
		{"disk", func(t *testing.T) afero.Fs { fs, _ := ptOSFs(t); return fs }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := tc.fs(t)
			c := newTestServer(t, withFs(fs)).login(t)
			// The first attempt is cut after half the file.
			c.stor("up.bin", content[:half])
			size := c.expect("SIZE up.bin", 213)
			if size != fmt.Sprint(half) {
				t.Fatalf("SIZE after the partial upload: %s", size)
			}
			c.expect("REST "+size, 350)
			c.stor("up.bin", content[half:])
			ptAssertBytes(t, "resumed upload", ptReadFile(t, fs, "/up.bin"), content)

			// Resuming before the end of a longer file drops its tail.
			c.expect("REST 10", 350)
			c.stor("up.bin", []byte("TAIL"))
			ptAssertBytes(t, "resumed inside the file", ptReadFile(t, fs, "/up.bin"), append(content[:10:10], "TAIL"...))
		})
	}
}

func TestRESTAndRETR(t *testing.T) {
	t.Parallel()
	content := ptRandom(100 << 10)
	fs, _ := ptOSFs(t)
	ptWriteFile(t, fs, "/f", content)
	c := newTestServer(t, withFs(fs)).login(t)
	for _, off := range []int{1, 4096, len(content) - 1, len(content)} {
		c.expect(fmt.Sprintf("REST %d", off), 350)
		ptAssertBytes(t, fmt.Sprintf("RETR from %d", off), c.retr("f"), content[off:])
	}
	c.expect(fmt.Sprintf("REST %d", len(content)+1), 350)
	c.epsv()
	c.expect("RETR f", 554)
	// The refused offset is forgotten.
	ptAssertBytes(t, "RETR after the refused offset", c.retr("f"), content)
}

func TestTYPEAConvertsLineEndings(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	fs := ts.driver.fs
	ptWriteFile(t, fs, "/unix.txt", []byte("one\ntwo\r\nthree\n\nlone\rCR\n"))
	c := ts.login(t)
	c.expect("TYPE A", 200)
	if got := c.retr("unix.txt"); string(got) != "one\r\ntwo\r\nthree\r\n\r\nlone\rCR\r\n" {
		t.Fatalf("TYPE A download: %q", got)
	}
	c.stor("dos.txt", []byte("a\r\nb\r\n\r\nc\rd\r"))
	if got := ptReadFile(t, fs, "/dos.txt"); string(got) != "a\nb\n\nc\rd\r" {
		t.Fatalf("TYPE A upload: %q", got)
	}
	// CRLF split across writes is still one line end.
	data := c.epsv()
	c.expect("STOR split.txt", 150)
	for _, part := range []string{"x\r", "\ny\r", "\n"} {
		if _, err := data.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	_ = data.Close()
	c.expectRead(226)
	if got := ptReadFile(t, fs, "/split.txt"); string(got) != "x\ny\n" {
		t.Fatalf("TYPE A upload with split CRLF: %q", got)
	}
	c.expect("TYPE I", 200)
	if got := c.retr("unix.txt"); string(got) != "one\ntwo\r\nthree\n\nlone\rCR\n" {
		t.Fatalf("TYPE I download: %q", got)
	}
	c.stor("raw.txt", []byte("a\r\nb"))
	if got := ptReadFile(t, fs, "/raw.txt"); string(got) != "a\r\nb" {
		t.Fatalf("TYPE I upload: %q", got)
	}
}

func TestPASVTransfers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("over pasv"))
	c := ts.login(t)
	text := c.expect("PASV", 227)
	if !strings.Contains(text, "(127,0,0,1,") {
		t.Fatalf("PASV advertises %q", text)
	}
	data := c.pasv() // replaces the listener of the first PASV
	c.expect("RETR f", 150)
	if got := ptReadAll(t, data); string(got) != "over pasv" {
		t.Fatalf("RETR over PASV: %q", got)
	}
	c.expectRead(226)
	data = c.pasv()
	c.expect("STOR g", 150)
	_, _ = data.Write([]byte("up over pasv"))
	_ = data.Close()
	c.expectRead(226)
	if got := ptReadFile(t, ts.driver.fs, "/g"); string(got) != "up over pasv" {
		t.Fatalf("STOR over PASV: %q", got)
	}
}

func TestEPSVForms(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	c := ts.login(t)
	ptRun(t, c, []ptStep{
		{"EPSV 1", 229, "|||"},
		{"EPSV 2", 522, "(1)"}, // the control connection is IPv4
		{"EPSV 3", 522, ""},
		{"EPSV nonsense", 522, ""},
	})
	if got := c.retr("f"); string(got) != "x" {
		t.Fatalf("RETR: %q", got)
	}
	// After EPSV ALL only EPSV may set up data connections.
	ptRun(t, c, []ptStep{
		{"EPSV ALL", 200, ""},
		{"PASV", 503, ""},
		{"PORT 127,0,0,1,200,1", 503, ""},
		{"EPRT |1|127.0.0.1|51201|", 503, ""},
	})
	if got := c.retr("f"); string(got) != "x" {
		t.Fatalf("RETR after EPSV ALL: %q", got)
	}
}

func TestActiveModeTransfers(t *testing.T) {
	t.Parallel()
	for _, non20 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ActiveTransferPortNon20=%v", non20), func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withSettings(func(s *Settings) { s.ActiveTransferPortNon20 = non20 }))
			fs := ts.driver.fs
			content := ptRandom(1 << 20)
			ptWriteFile(t, fs, "/f", content)
			c := ts.login(t)

			ln, arg := ptActive(t)
			c.expect("PORT "+arg, 200)
			c.expect("RETR f", 150)
			data := ptAccept(t, ln)
			if ip := data.RemoteAddr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Fatalf("data connection from %v", ip)
			}
			ptAssertBytes(t, "RETR over PORT", ptReadAll(t, data), content)
			c.expectRead(226)

			ln, _ = ptActive(t)
			c.expect(fmt.Sprintf("EPRT |1|127.0.0.1|%d|", ln.Addr().(*net.TCPAddr).Port), 200)
			c.expect("STOR g", 150)
			data = ptAccept(t, ln)
			_, _ = data.Write(content)
			_ = data.Close()
			c.expectRead(226)
			ptAssertBytes(t, "STOR over EPRT", ptReadFile(t, fs, "/g"), content)

			ln, arg = ptActive(t)
			c.expect("PORT "+arg, 200)
			c.expect("NLST", 150)
			if got := ptReadAll(t, ptAccept(t, ln)); string(got) != "f\r\ng\r\n" {
				t.Fatalf("NLST over PORT: %q", got)
			}
			c.expectRead(226)
		})
	}
}

func TestActiveModeRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptRun(t, ts.login(t), []ptStep{
		{"PORT 127,0,0,1,0,21", 504, "privileged"},
		{"EPRT |1|127.0.0.1|22|", 504, "privileged"},
		// FTP bounce: only the client's own address is allowed.
		{"PORT 10,1,2,3,200,1", 504, ""},
		{"EPRT |1|192.0.2.1|51201|", 504, ""},
		{"EPRT |2|::1|51201|", 504, ""},
		{"PORT 127,0,0,1,200", 501, ""},
		{"PORT 127,0,0,1,200,1,1", 501, ""},
		{"PORT 127,0,0,256,200,1", 501, ""},
		{"PORT a,b,c,d,e,f", 501, ""},
		{"EPRT |3|127.0.0.1|51201|", 522, ""},
		{"EPRT |1|127.0.0.1|0|", 501, ""},
		{"EPRT |1|::1|51201|", 501, ""},
		{"NOOP", 200, ""},
	})
}

func TestActiveModeToClosedPortIs425(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	c := ts.login(t)
	ln, arg := ptActive(t)
	_ = ln.Close() // nothing listens there any more
	c.expect("PORT "+arg, 200)
	c.expect("RETR f", 150)
	c.expectRead(425)
	if got := c.retr("f"); string(got) != "x" {
		t.Fatalf("RETR afterwards: %q", got)
	}
}

func TestTransferWithoutDataConnectionIs425(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	c := ts.login(t)
	for _, line := range []string{"RETR f", "STOR g", "APPE g", "STOU", "LIST", "NLST", "MLSD"} {
		c.expect(line, 425)
	}
	ptAssertMissing(t, ts.driver.fs, "/g")
	// A data connection is used by one transfer only.
	c.retr("f")
	c.expect("RETR f", 425)
}

func TestPassiveConnectionNeverMadeIs425(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.ConnectionTimeout = 1 }))
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	c := ts.login(t)
	c.expect("EPSV", 229)
	c.expect("RETR f", 150)
	c.expectRead(425)
	if got := c.retr("f"); string(got) != "x" {
		t.Fatalf("RETR afterwards: %q", got)
	}
}

// ptAssertDataClosed fails unless the server ends a data connection it
// will not use, so that a client reading it does not wait forever.
func ptAssertDataClosed(t *testing.T, data net.Conn) {
	t.Helper()
	_ = data.SetReadDeadline(time.Now().Add(ptDeadline))
	n, err := data.Read(make([]byte, 1))
	var ne net.Error
	if n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the data connection is still open (read %d bytes, %v)", n, err)
	}
}

func TestFailedTransferCommandsDoNotLeaveDataConnectionOpen(t *testing.T) {
	t.Parallel()
	fs, _ := ptOSFs(t)
	ptMkdir(t, fs, "/dir")
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	for _, tc := range []struct {
		line string
		code int
	}{
		{"RETR missing", 550},
		{"RETR dir", 550},
		{"STOR /no/such/dir/f", 550},
		{"STOR dir", 553},
		{"STOU /no/such/dir/", 550},
		{"LIST /missing", 550},
		{"MLSD /missing", 550},
	} {
		data := c.epsv()
		c.expect(tc.line, tc.code)
		ptAssertDataClosed(t, data)
	}
	// Active mode too: the address is forgotten, nothing connects.
	ln, arg := ptActive(t)
	c.expect("PORT "+arg, 200)
	c.expect("RETR missing", 550)
	c.expect("RETR missing", 425)
	_ = ln.Close()
	c.expect("NOOP", 200)
}

func TestSTORIntoMissingDirectory(t *testing.T) {
	t.Parallel()
	fs, dir := ptOSFs(t)
	c := newTestServer(t, withFs(fs)).login(t)
	c.epsv()
	c.expect("STOR /no/such/dir/f", 550)
	c.epsv()
	c.expect("APPE /no/such/dir/f", 550)
	if _, err := os.Stat(filepath.Join(dir, "no")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("STOR created parent directories: %v", err)
	}
}

func TestRETRAndSTOROfTheRoot(t *testing.T) {
	t.Parallel()
	fs, _ := ptOSFs(t)
	c := newTestServer(t, withFs(fs)).login(t)
	c.epsv()
	c.expect("RETR /", 550)
	c.epsv()
	c.expect("STOR /", 553)
}

func TestABORDuringDownload(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withFs(ptEndlessFs{afero.NewMemMapFs()}))
	ptWriteFile(t, ts.driver.fs, "/endless", []byte("size does not matter"))
	ptWriteFile(t, ts.driver.fs, "/small", []byte("small"))
	// The third is the second as HAProxy forwards it: the Synch's DM
	// went as TCP urgent data, which the balancer does not pass on.
	for _, abor := range []string{"ABOR\r\n", "\xff\xf4\xff\xf2ABOR\r\n", "\xff\xf4\xffABOR\r\n"} {
		c := ts.login(t)
		data := c.epsv()
		c.expect("RETR endless", 150)
		// The transfer is under way.
		if _, err := io.ReadFull(data, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
		ptWriteRaw(t, c, []byte(abor))
		c.expectRead(426)
		c.expectRead(226)
		// The server closed the data connection.
		_ = data.SetReadDeadline(time.Now().Add(ptDeadline))
		if _, err := io.Copy(io.Discard, data); err != nil && !ptIsReset(err) {
			t.Fatalf("data connection after ABOR: %v", err)
		}
		// The session goes on.
		c.expect("NOOP", 200)
		if got := c.retr("small"); string(got) != "small" {
			t.Fatalf("RETR after ABOR: %q", got)
		}
	}
}

func TestABORDuringUpload(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	data := c.epsv()
	c.expect("STOR up", 150)
	if _, err := data.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	c.expect("ABOR", 426)
	c.expectRead(226)
	c.expect("NOOP", 200)
	c.stor("up", []byte("again"))
	if got := ptReadFile(t, ts.driver.fs, "/up"); string(got) != "again" {
		t.Fatalf("upload after ABOR: %q", got)
	}
}

func TestABORWithoutTransfer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ptWriteFile(t, ts.driver.fs, "/f", []byte("x"))
	c := ts.login(t)
	c.expect("ABOR", 225)
	// ABOR drops a prepared data connection.
	data := c.epsv()
	c.expect("ABOR", 225)
	ptAssertDataClosed(t, data)
	c.expect("RETR f", 425)
}

func TestCommandsDuringTransferWaitExceptSTATAndABOR(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withFs(ptEndlessFs{afero.NewMemMapFs()}))
	ptWriteFile(t, ts.driver.fs, "/endless", nil)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR endless", 150)
	if _, err := io.ReadFull(data, make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	// STAT answers at once, while the transfer runs.
	text := c.expect("STAT", 211)
	if !strings.Contains(text, "Transfer in progress: RETR /endless") {
		t.Fatalf("STAT during a transfer:\n%s", text)
	}
	// ABOR ends it, and the NOOP sent behind ABOR is answered after.
	ptWriteRaw(t, c, []byte("ABOR\r\nNOOP\r\n"))
	c.expectRead(426)
	c.expectRead(226)
	c.expectRead(200)
	if text := c.expect("STAT", 211); !strings.Contains(text, "No transfer in progress") {
		t.Fatalf("STAT after ABOR:\n%s", text)
	}
}

func TestCommandSentDuringTransferIsAnsweredAfterIt(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	content := ptRandom(4 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR f", 150)
	c.send("SIZE f")
	ptAssertBytes(t, "download", ptReadAll(t, data), content)
	c.expectRead(226)
	if size := c.expectRead(213); size != "4194304" {
		t.Fatalf("SIZE: %s", size)
	}
}

func TestQUITDuringTransferWaitsForIt(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	content := ptRandom(8 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR f", 150)
	c.send("QUIT")
	ptAssertBytes(t, "download before QUIT", ptReadAll(t, data), content)
	c.expectRead(226)
	c.expectRead(221)
	ptExpectClosed(t, c)
}

// TestRefusedUploadIsDrainedSoTheClientSeesTheReply: when a hook refuses
// an upload part way (a quota or a policy cap: 552), the server reads and
// drops what the client still sends, within bounds, so the client's send
// completes instead of meeting a reset, and it reads the 552.
func TestRefusedUploadIsDrainedSoTheClientSeesTheReply(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	capAt := func(_ *Transfer, next CopyFunc) CopyFunc {
		return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			n, err := next(ctx, dst, io.LimitReader(src, limit))
			if err == nil && n == limit {
				err = Refuse(552, "Upload exceeds the cap.")
			}
			return n, err
		}
	}
	ts := newTestServer(t, onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{capAt} }))
	c := ts.login(t)
	for range 3 {
		data := c.epsv()
		c.expect("STOR big", 150)
		_ = data.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := data.Write(pattern(8 << 20)); err != nil {
			t.Fatalf("the client's send failed: %v (the server reset the refused upload)", err)
		}
		_ = data.Close()
		c.expectRead(552)
	}
}
