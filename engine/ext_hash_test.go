package engine

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"
)

func extHex(algo string, b []byte) string {
	switch algo {
	case "SHA-512":
		s := sha512.Sum512(b)
		return hex.EncodeToString(s[:])
	case "SHA-1":
		s := sha1.Sum(b)
		return hex.EncodeToString(s[:])
	case "MD5":
		s := md5.Sum(b)
		return hex.EncodeToString(s[:])
	case "CRC32":
		var s [4]byte
		binary.BigEndian.PutUint32(s[:], crc32.ChecksumIEEE(b))
		return hex.EncodeToString(s[:])
	default:
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
}

func withHASH() serverOption { return withSettings(func(s *Settings) { s.EnableHASH = true }) }

func TestExtHASHEachAlgorithmMatchesTheContent(t *testing.T) {
	fs := afero.NewMemMapFs()
	content := extContent(300_001)
	extWrite(t, fs, "/dir/file.bin", content)
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)

	extExpectText(t, c, "OPTS HASH", 200, "SHA-256")
	extExpectText(t, c, "HASH /dir/file.bin", 213,
		"SHA-256 0-300000 "+extHex("SHA-256", content)+" /dir/file.bin")
	for _, algo := range []string{"SHA-512", "SHA-1", "MD5", "CRC32", "SHA-256"} {
		extExpectText(t, c, "OPTS HASH "+algo, 200, algo)
		extExpectText(t, c, "OPTS HASH", 200, algo)
		c.expect("CWD /dir", 250)
		extExpectText(t, c, "HASH file.bin", 213,
			fmt.Sprintf("%s 0-300000 %s /dir/file.bin", algo, extHex(algo, content)))
	}
}

func TestExtHASHFeatureMarksTheSelectedAlgorithm(t *testing.T) {
	ts := newTestServer(t, withHASH())
	c := ts.login(t)
	if !extHasFeature(t, c, "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32") {
		t.Fatalf("FEAT: %q", extFeatures(t, c))
	}
	extExpectText(t, c, "OPTS HASH md5", 200, "MD5")
	if !extHasFeature(t, c, "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32") {
		t.Fatalf("FEAT after OPTS HASH MD5: %q", extFeatures(t, c))
	}
	for _, x := range []string{"XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"} {
		if !extHasFeature(t, c, x) {
			t.Errorf("FEAT lacks %s", x)
		}
	}
	// An unknown algorithm is refused and changes nothing (the draft's 501).
	extExpectText(t, c, "OPTS HASH CRC-37", 501, "Unknown algorithm, current selection not changed.")
	extExpectText(t, c, "OPTS HASH", 200, "MD5")
	// REIN forgets the choice.
	c.expect("REIN", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	extExpectText(t, c, "OPTS HASH", 200, "SHA-256")
}

func TestExtRANGSelectsAnInclusiveRangeUntilReset(t *testing.T) {
	fs := afero.NewMemMapFs()
	content := extContent(100)
	extWrite(t, fs, "/f", content)
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)

	c.expect("RANG 0 49", 350)
	extExpectText(t, c, "HASH f", 213, "SHA-256 0-49 "+extHex("SHA-256", content[:50])+" /f")
	// The range stays for the next HASH too.
	extExpectText(t, c, "HASH f", 213, "SHA-256 0-49 "+extHex("SHA-256", content[:50])+" /f")
	c.expect("RANG 10 10", 350)
	extExpectText(t, c, "HASH f", 213, "SHA-256 10-10 "+extHex("SHA-256", content[10:11])+" /f")
	// An end past the file stops at its last byte.
	c.expect("RANG 90 5000", 350)
	extExpectText(t, c, "HASH f", 213, "SHA-256 90-99 "+extHex("SHA-256", content[90:])+" /f")
	// A start past the file cannot be hashed.
	c.expect("RANG 100 200", 350)
	c.expect("HASH f", 554)
	// "RANG 1 0" goes back to whole files.
	c.expect("RANG 1 0", 350)
	extExpectText(t, c, "HASH f", 213, "SHA-256 0-99 "+extHex("SHA-256", content)+" /f")
	// An invalid range is refused and resets the range.
	c.expect("RANG 20 30", 350)
	for _, bad := range []string{"RANG 5 2", "RANG 1", "RANG a b", "RANG -1 5", "RANG 1 2 3", "RANG 99999999999999999999 1"} {
		c.expect(bad, 501)
	}
	extExpectText(t, c, "HASH f", 213, "SHA-256 0-99 "+extHex("SHA-256", content)+" /f")
}

func TestExtHASHOfAnEmptyFile(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/empty", nil)
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)
	extExpectText(t, c, "HASH empty", 213, "SHA-256 0-0 "+extHex("SHA-256", nil)+" /empty")
}

func TestExtXDigestCommands(t *testing.T) {
	fs := afero.NewMemMapFs()
	content := extContent(5000)
	extWrite(t, fs, "/a b 12", content)
	extWrite(t, fs, "/plain", content)
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)
	for verb, algo := range map[string]string{"XCRC": "CRC32", "XMD5": "MD5", "XSHA1": "SHA-1", "XSHA256": "SHA-256", "XSHA512": "SHA-512"} {
		extExpectText(t, c, verb+` "a b 12"`, 250, extHex(algo, content))
		extExpectText(t, c, verb+" plain", 250, extHex(algo, content))
		// [start, end) with the end exclusive; one offset is the start.
		extExpectText(t, c, verb+` "a b 12" 100 200`, 250, extHex(algo, content[100:200]))
		extExpectText(t, c, verb+" plain 4000", 250, extHex(algo, content[4000:]))
		extExpectText(t, c, verb+" plain, 10, 20", 250, extHex(algo, content[10:20]))
	}
	c.expect(`XMD5 "unterminated`, 501)
	c.expect("XMD5 plain 20 10", 501)
	c.expect("XMD5 plain 6000", 554)
	c.expect("XMD5 missing", 550)
}

func TestExtHASHErrors(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/d/f", []byte("x"))
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)
	c.expect("HASH /missing", 550)
	c.expect("HASH /d", 553)
	c.expect("XSHA256 /d", 553)
	c.expect("HASH", 501)
	c.expect("NOOP", 200)
}

func TestExtHASHDisabledByDefault(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/f", []byte("x"))
	ts := newTestServer(t, withFs(fs))
	c := ts.login(t)
	for _, line := range []string{"HASH f", "RANG 0 1", "XMD5 f", "XCRC f", "XSHA1 f", "XSHA256 f", "XSHA512 f"} {
		c.expect(line, 502)
	}
	c.expect("OPTS HASH", 501)
	for _, f := range extFeatures(t, c) {
		if strings.HasPrefix(f, "HASH") || strings.HasPrefix(f, "XSHA") {
			t.Fatalf("FEAT lists %q with HASH disabled", f)
		}
	}
}

// extHasherFs is a filesystem whose driver computes digests itself.
type extHasherFs struct {
	afero.Fs
	mu      sync.Mutex
	calls   []string
	release chan struct{} // when not nil, ComputeHash waits for it
}

func (fs *extHasherFs) ComputeHash(name string, algo HASHAlgo, start, end int64) (string, error) {
	fs.mu.Lock()
	fs.calls = append(fs.calls, fmt.Sprintf("%s %s %d %d", name, algo, start, end))
	fs.mu.Unlock()
	if fs.release != nil {
		<-fs.release
	}
	return "ABCDEF0123", nil
}

func (fs *extHasherFs) lastCall() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.calls) == 0 {
		return ""
	}
	return fs.calls[len(fs.calls)-1]
}

func TestExtHASHUsesTheDriversHasher(t *testing.T) {
	fs := &extHasherFs{Fs: afero.NewMemMapFs()}
	extWrite(t, fs, "/f", extContent(100))
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)

	extExpectText(t, c, "HASH f", 213, "SHA-256 0-99 abcdef0123 /f")
	if got := fs.lastCall(); got != "/f SHA-256 0 0" {
		t.Fatalf("whole file: ComputeHash(%s), want end 0", got)
	}
	c.expect("OPTS HASH SHA-512", 200)
	c.expect("RANG 10 19", 350)
	extExpectText(t, c, "HASH f", 213, "SHA-512 10-19 abcdef0123 /f")
	if got := fs.lastCall(); got != "/f SHA-512 10 20" {
		t.Fatalf("range: ComputeHash(%s), want [10, 20)", got)
	}
	extExpectText(t, c, "XMD5 f 5 7", 250, "abcdef0123")
	if got := fs.lastCall(); got != "/f MD5 5 7" {
		t.Fatalf("XMD5: ComputeHash(%s)", got)
	}
}

func TestExtABORInterruptsAHashOfAHugeFile(t *testing.T) {
	fs := &extEndlessFs{Fs: afero.NewMemMapFs()}
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)

	c.send("HASH /endless")
	// STAT answers while the hash runs, and shows its progress.
	text := c.expect("STAT", 211)
	if !strings.Contains(text, "HASH /endless") {
		t.Fatalf("STAT during HASH: %q", text)
	}
	start := time.Now()
	c.send("ABOR")
	c.expectRead(426)
	c.expectRead(226)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ABOR took %v", d)
	}
	c.expect("NOOP", 200)
}

func TestExtABORDoesNotWaitForABlockedDriverHasher(t *testing.T) {
	fs := &extHasherFs{Fs: afero.NewMemMapFs(), release: make(chan struct{})}
	defer close(fs.release)
	extWrite(t, fs, "/f", []byte("x"))
	ts := newTestServer(t, withFs(fs), withHASH())
	c := ts.login(t)
	c.send("HASH f")
	c.send("ABOR")
	c.expectRead(426)
	c.expectRead(226)
	c.expect("NOOP", 200)
}
