package engine

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// extZlib compresses b as a MODE Z client would.
func extZlib(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := zlib.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// extRetrZ downloads name in MODE Z and returns the decompressed bytes.
func extRetrZ(t testing.TB, c *rawClient, line string) []byte {
	t.Helper()
	data := c.epsv()
	c.expect(line, 150)
	zr, err := zlib.NewReader(data)
	if err != nil {
		t.Fatalf("%s: zlib header: %v", line, err)
	}
	b := extReadAll(t, zr)
	c.expectRead(226)
	return b
}

func TestExtModeZRoundTrip(t *testing.T) {
	fs := afero.NewMemMapFs()
	// Half random, half repetitive: both kinds of deflate blocks.
	content := append(extContent(600_000), bytes.Repeat([]byte("ftpgate "), 80_000)...)
	extWrite(t, fs, "/down.bin", content)
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	if !extHasFeature(t, c, "MODE Z") {
		t.Fatalf("FEAT lacks MODE Z: %q", extFeatures(t, c))
	}
	c.expect("TYPE I", 200)
	c.expect("MODE Z", 200)
	if got := extRetrZ(t, c, "RETR down.bin"); !bytes.Equal(got, content) {
		t.Fatalf("MODE Z RETR: %d bytes, want %d equal", len(got), len(content))
	}
	c.stor("up.bin", extZlib(t, content))
	if got := extRead(t, fs, "/up.bin"); !bytes.Equal(got, content) {
		t.Fatalf("MODE Z STOR stored %d bytes, want %d equal", len(got), len(content))
	}
	// APPE decompresses too.
	c.expect("MODE Z", 200)
	data := c.epsv()
	c.expect("APPE up.bin", 150)
	sendAllExt(t, data, extZlib(t, []byte("tail")))
	c.expectRead(226)
	if got := extRead(t, fs, "/up.bin"); !bytes.Equal(got, append(append([]byte{}, content...), "tail"...)) {
		t.Fatal("MODE Z APPE did not append the decompressed bytes")
	}
	// Listings are compressed as well.
	listing := string(extRetrZ(t, c, "NLST"))
	if !strings.Contains(listing, "down.bin\r\n") || !strings.Contains(listing, "up.bin\r\n") {
		t.Fatalf("MODE Z NLST: %q", listing)
	}
	// Back to stream mode: the bytes travel as they are.
	c.expect("MODE S", 200)
	if got := c.retr("down.bin"); !bytes.Equal(got, content) {
		t.Fatal("MODE S RETR after MODE Z differs")
	}
	if text := c.expect("STAT", 211); !strings.Contains(text, "MODE: Stream") {
		t.Fatalf("STAT: %q", text)
	}
}

func sendAllExt(t testing.TB, conn io.WriteCloser, b []byte) {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Fatalf("data write: %v", err)
	}
	_ = conn.Close()
}

func TestExtModeZLevels(t *testing.T) {
	fs := afero.NewMemMapFs()
	content := bytes.Repeat([]byte("abcdefgh"), 100_000)
	extWrite(t, fs, "/f", content)
	ts := newTestServer(t, withFs(fs), withSettings(func(s *Settings) { s.ModeZLevel = 1 }))
	c := ts.login(t)
	c.expect("MODE Z", 200)
	for _, level := range []string{"0", "1", "9"} {
		extExpectText(t, c, "OPTS MODE Z LEVEL "+level, 200, "MODE Z LEVEL set to "+level+".")
		if got := extRetrZ(t, c, "RETR f"); !bytes.Equal(got, content) {
			t.Fatalf("level %s: content differs", level)
		}
	}
	for _, bad := range []string{"OPTS MODE Z LEVEL 10", "OPTS MODE Z LEVEL -1", "OPTS MODE Z", "OPTS MODE Y LEVEL 1", "OPTS MODE Z LEVEL x"} {
		c.expect(bad, 501)
	}
	c.expect("MODE B", 504)
	c.expect("MODE C", 504)
	if text := c.expect("STAT", 211); !strings.Contains(text, "MODE: Z") {
		t.Fatalf("STAT in MODE Z: %q", text)
	}
}

func TestExtModeZComposesWithTypeA(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/unix.txt", []byte("one\ntwo\n"))
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	c.expect("TYPE A", 200)
	c.expect("MODE Z", 200)
	// Download: LF becomes CRLF, then the result is compressed.
	if got := string(extRetrZ(t, c, "RETR unix.txt")); got != "one\r\ntwo\r\n" {
		t.Fatalf("TYPE A + MODE Z RETR: %q", got)
	}
	// Upload: decompressed, then CRLF becomes LF.
	c.stor("up.txt", extZlib(t, []byte("a\r\nb\r\n")))
	if got := string(extRead(t, fs, "/up.txt")); got != "a\nb\n" {
		t.Fatalf("TYPE A + MODE Z STOR stored %q", got)
	}
}

func TestExtModeZDisabled(t *testing.T) {
	ts := newTestServer(t, withSettings(func(s *Settings) { s.DisableModeZ = true }))
	c := ts.login(t)
	c.expect("MODE Z", 504)
	c.expect("OPTS MODE Z LEVEL 5", 501)
	c.expect("MODE S", 200)
	if extHasFeature(t, c, "MODE Z") {
		t.Fatal("FEAT lists MODE Z although it is disabled")
	}
}

func TestExtModeZUploadBombIsStoppedAtTheBound(t *testing.T) {
	const bound = 8 << 20
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs), withSettings(func(s *Settings) { s.MaxDecompressedUploadSize = bound }))
	c := ts.login(t)
	c.expect("MODE Z", 200)
	data := c.epsv()
	c.expect("STOR bomb.bin", 150)

	// A lazily made zlib stream of 1 GiB of zeros: about a megabyte on
	// the wire. The writer stops when the server closes the connection.
	sent := make(chan int64, 1)
	go func() {
		_ = data.SetWriteDeadline(time.Now().Add(30 * time.Second))
		cw := &extCountingWriter{w: data}
		zw := zlib.NewWriter(cw)
		zeros := make([]byte, 1<<20)
		for i := 0; i < 1024; i++ {
			if _, err := zw.Write(zeros); err != nil {
				break
			}
		}
		_ = zw.Close()
		sent <- cw.n
	}()
	text := c.expectRead(552)
	if !strings.Contains(text, "8388608") {
		t.Fatalf("552 reply does not name the bound: %q", text)
	}
	_ = data.Close()
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the client's writer did not stop")
	}
	fi, err := fs.Stat("/bomb.bin")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > bound {
		t.Fatalf("stored %d bytes, more than the bound %d", fi.Size(), bound)
	}
	errs := fs.transferErrors()
	if len(errs) != 1 || !errors.Is(errs[0], ErrDecompressedUploadTooLarge) {
		t.Fatalf("FileTransferError saw %v, want ErrDecompressedUploadTooLarge", errs)
	}
	// The session goes on, in MODE Z still.
	c.expect("NOOP", 200)
	c.stor("after.bin", extZlib(t, []byte("fine")))
	if got := string(extRead(t, fs, "/after.bin")); got != "fine" {
		t.Fatalf("upload after the bomb stored %q", got)
	}
}

type extCountingWriter struct {
	w io.Writer
	n int64
}

func (w *extCountingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

func TestExtModeZUploadExactlyAtTheBoundIsAccepted(t *testing.T) {
	fs := afero.NewMemMapFs()
	ts := newTestServer(t, withFs(fs), withSettings(func(s *Settings) { s.MaxDecompressedUploadSize = 1000 }))
	c := ts.login(t)
	c.expect("MODE Z", 200)
	content := extContent(1000)
	c.stor("exact.bin", extZlib(t, content))
	if got := extRead(t, fs, "/exact.bin"); !bytes.Equal(got, content) {
		t.Fatalf("stored %d bytes", len(got))
	}
	data := c.epsv()
	c.expect("STOR over.bin", 150)
	sendAllExt(t, data, extZlib(t, extContent(1001)))
	c.expectRead(552)
}

func TestExtModeZCorruptUpload(t *testing.T) {
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	c.expect("MODE Z", 200)
	for name, payload := range map[string][]byte{
		"not zlib":     []byte("this is not a zlib stream at all"),
		"bad checksum": append(extZlib(t, []byte("hello"))[:13], 0, 0, 0, 0),
	} {
		data := c.epsv()
		c.expect("STOR bad.bin", 150)
		sendAllExt(t, data, payload)
		if text := c.expectRead(451); !strings.Contains(text, "MODE Z") {
			t.Fatalf("%s: reply %q", name, text)
		}
	}
	// A stream cut short is an interrupted upload.
	data := c.epsv()
	c.expect("STOR cut.bin", 150)
	full := extZlib(t, extContent(100_000))
	sendAllExt(t, data, full[:len(full)/2])
	c.expectRead(426)
	if n := len(fs.transferErrors()); n != 3 {
		t.Fatalf("FileTransferError called %d times, want 3", n)
	}
	c.expect("NOOP", 200)
}

func TestExtModeZABORDuringADownload(t *testing.T) {
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	c.expect("MODE Z", 200)
	data := c.epsv()
	c.expect("RETR endless", 150)
	zr, err := zlib.NewReader(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(zr, make([]byte, 1<<20)); err != nil {
		t.Fatalf("reading the compressed download: %v", err)
	}
	c.send("ABOR")
	c.expectRead(426)
	c.expectRead(226)
	c.expect("NOOP", 200)
}

func TestExtModeZStallsAreDetected(t *testing.T) {
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs), withSettings(func(s *Settings) { s.ConnectionTimeout = 1 }))
	c := ts.login(t)
	c.expect("MODE Z", 200)

	// A download the client stops reading.
	_ = c.epsv()
	c.expect("RETR endless", 150)
	if text := c.expectRead(426); !strings.Contains(text, "stalled") {
		t.Fatalf("stalled download: %q", text)
	}
	// An upload that sends a zlib header, then nothing.
	data := c.epsv()
	c.expect("STOR stall.bin", 150)
	if _, err := data.Write([]byte{0x78, 0x9c}); err != nil {
		t.Fatal(err)
	}
	if text := c.expectRead(426); !strings.Contains(text, "stalled") {
		t.Fatalf("stalled upload: %q", text)
	}
	c.expect("NOOP", 200)
}
