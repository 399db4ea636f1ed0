package engine

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// startEndlessDownload logs in and starts a RETR of a file that never
// ends, returning the control client and the data connection, on which
// the transfer is under way.
func startEndlessDownload(t *testing.T, ts *testServer) (*rawClient, io.Reader) {
	t.Helper()
	ptWriteFile(t, ts.driver.fs, "/endless", nil)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR endless", 150)
	if _, err := io.ReadFull(data, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	return c, data
}

func TestABORBehindAWaitingCommandStillAborts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withFs(ptEndlessFs{afero.NewMemMapFs()}))
	ptWriteFile(t, ts.driver.fs, "/small", []byte("small"))
	c, data := startEndlessDownload(t, ts)
	// The client keeps reading, so the transfer never stalls and only
	// ABOR can end it.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, data)
	}()
	// NOOP must wait for the transfer; the ABOR behind it must not.
	c.send("NOOP")
	c.send("ABOR")
	// Replies come in the order of the commands: RETR's, NOOP's, ABOR's.
	if text := c.expectRead(426); strings.Contains(text, "stalled") {
		t.Fatalf("the transfer stalled instead of being aborted: %q", text)
	}
	c.expectRead(200)
	c.expectRead(225)
	recv(t, drained, "the end of the aborted data connection")
	if got := c.retr("small"); string(got) != "small" {
		t.Fatalf("RETR after ABOR: %q", got)
	}
}

func TestSTATAndQUITBehindWaitingCommandsKeepTheirOrder(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	content := ptRandom(4 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR f", 150)
	ptWriteRaw(t, c, []byte("SIZE f\r\nSTAT\r\nQUIT\r\n"))
	ptAssertBytes(t, "download", ptReadAll(t, data), content)
	c.expectRead(226)
	if size := c.expectRead(213); size != "4194304" {
		t.Fatalf("SIZE: %s", size)
	}
	if text := c.expectRead(211); !strings.Contains(text, "No transfer in progress") {
		t.Fatalf("STAT queued behind SIZE:\n%s", text)
	}
	c.expectRead(221)
	ptExpectClosed(t, c)
}

func TestALineSplitAcrossTheEndOfATransferIsKept(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	content := ptRandom(4 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR f", 150)
	// The NOOP waits for the transfer, whose end wakes the command loop
	// while half of the next line has arrived.
	ptWriteRaw(t, c, []byte("NOOP\r\nSIZ"))
	ptAssertBytes(t, "download", ptReadAll(t, data), content)
	c.expectRead(226)
	c.expectRead(200)
	ptWriteRaw(t, c, []byte("E f\r\n"))
	if size := c.expectRead(213); size != "4194304" {
		t.Fatalf("SIZE: %s", size)
	}
}

func TestTooManyLinesDuringATransferAreHeldNotLost(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	content := ptRandom(2 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR f", 150)
	const n = 3 * maxQueuedLines
	ptWriteRaw(t, c, []byte(strings.Repeat("NOOP\r\n", n)))
	ptAssertBytes(t, "download", ptReadAll(t, data), content)
	c.expectRead(226)
	for range n {
		c.expectRead(200)
	}
	c.expect("QUIT", 221)
}

func TestBadLineCountStartsAgainAfterACommand(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	// A long session with an occasional bad line goes on.
	for range 3 {
		for i := 1; i < maxBadLines; i++ {
			ptWriteRaw(t, c, []byte("NO\x00OP\r\n"))
			c.expectRead(501)
		}
		c.expect("NOOP", 200)
	}
	// A run of them still closes it.
	for range maxBadLines {
		ptWriteRaw(t, c, []byte("\r\n"))
		c.expectRead(500)
	}
	c.expectRead(421)
	ptExpectClosed(t, c)
}

func TestMDTMWithATimeIsRefusedClearlyWithoutMFMT(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.DisableMFMT = true }))
	fs := ts.driver.fs
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ptWriteFile(t, fs, "/f", []byte("x"))
	ptWriteFile(t, fs, "/20210304050607 g", []byte("y"))
	for _, name := range []string{"/f", "/20210304050607 g"} {
		if err := fs.Chtimes(name, when, when); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.login(t)
	feats := ptFeatures(t, c)
	if feats["MFMT"] || !feats["MDTM"] {
		t.Fatalf("FEAT with DisableMFMT: %v", feats)
	}
	c.expect("MFMT 20210304050607 f", 502)
	if text := c.expect("MDTM 20210304050607 f", 501); !strings.Contains(text, "disabled") {
		t.Fatalf("MDTM set form: %q", text)
	}
	ptAssertModTime(t, fs, "/f", when)
	// A name that only looks like the set form is still a name.
	if got := c.expect("MDTM 20210304050607 g", 213); got != "20200102030405" {
		t.Fatalf("MDTM of a file named like a time: %q", got)
	}
	ptAssertModTime(t, fs, "/20210304050607 g", when)
	c.expect("MDTM missing", 550)
}

func TestQUITAbortsALongHASH(t *testing.T) {
	t.Parallel()
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)
	c.send("HASH /endless")
	c.expect("STAT", 211) // the hash is running
	// Hashing a terabyte would outlast the reads' deadline: QUIT must
	// stop it, and the HASH's own reply comes before the goodbye.
	c.send("QUIT")
	if text := c.expectRead(426); !strings.Contains(text, "HASH") {
		t.Fatalf("HASH's final reply: %q", text)
	}
	c.expectRead(221)
	ptExpectClosed(t, c)
}

func TestQUITAbortsALongCOMB(t *testing.T) {
	t.Parallel()
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs), withCOMB())
	c := ts.login(t)
	c.send("COMB out endless")
	c.expect("STAT", 211)
	c.send("QUIT")
	if text := c.expectRead(426); !strings.Contains(text, "COMB") {
		t.Fatalf("COMB's final reply: %q", text)
	}
	c.expectRead(221)
	ptExpectClosed(t, c)
}

func TestAnOverlongLineDuringATransferIsAnsweredInTurn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	content := ptRandom(2 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	c := ts.login(t)
	data := c.epsv()
	c.expect("RETR f", 150)
	ptWriteRaw(t, c, []byte("NOOP\r\n"+strings.Repeat("X", maxLineLength+1)+"\r\nPWD\r\n"))
	ptAssertBytes(t, "download", ptReadAll(t, data), content)
	c.expectRead(226)
	c.expectRead(200)
	c.expectRead(500)
	c.expectRead(257)
}

func TestHeldCommandsOverATLSControlConnection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS(), withFs(ptEndlessFs{afero.NewMemMapFs()}))
	content := ptRandom(2 << 20)
	ptWriteFile(t, ts.driver.fs, "/f", content)
	ptWriteFile(t, ts.driver.fs, "/endless", nil)
	c := ts.dialExplicitTLS(t, "TLS", clientTLSConfig())
	c.protectedLogin()

	// A held command is answered after the transfer; the read that the
	// transfer's end cuts short leaves the TLS connection usable.
	data := c.dataTLS(clientTLSConfig())
	c.expect("RETR f", 150)
	c.send("SIZE f")
	b, err := io.ReadAll(data)
	if err != nil {
		t.Fatal(err)
	}
	ptAssertBytes(t, "download", b, content)
	c.expectRead(226)
	c.expectRead(213)

	// ABOR behind a held command still aborts.
	data = c.dataTLS(clientTLSConfig())
	c.expect("RETR endless", 150)
	go func() { _, _ = io.Copy(io.Discard, data) }()
	c.send("NOOP")
	c.send("ABOR")
	if text := c.expectRead(426); strings.Contains(text, "stalled") {
		t.Fatalf("the transfer stalled instead of being aborted: %q", text)
	}
	c.expectRead(200)
	c.expectRead(225)
	c.expect("PWD", 257)
}

func TestQUITBehindAHeldCommandStillEndsALongHASH(t *testing.T) {
	t.Parallel()
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)
	c.send("HASH /endless")
	c.send("PWD")
	c.send("QUIT")
	c.expectRead(426)
	c.expectRead(257)
	c.expectRead(221)
	ptExpectClosed(t, c)
}
