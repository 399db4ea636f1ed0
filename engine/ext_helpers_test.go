package engine

// Helpers of the command-extension tests (HASH, AVBL, COMB, MODE Z, SITE).
// Their names start with "ext" so that they cannot collide with helpers
// of the package's other test files.

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// extWrite stores content at name on fs, creating its directory.
func extWrite(t testing.TB, fs afero.Fs, name string, content []byte) {
	t.Helper()
	if err := fs.MkdirAll(extDirOf(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := afero.WriteFile(fs, name, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func extDirOf(name string) string {
	if i := strings.LastIndex(name, "/"); i > 0 {
		return name[:i]
	}
	return "/"
}

// extRead returns name's bytes on fs.
func extRead(t testing.TB, fs afero.Fs, name string) []byte {
	t.Helper()
	b, err := afero.ReadFile(fs, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// extMissing fails unless name is absent from fs.
func extMissing(t testing.TB, fs afero.Fs, name string) {
	t.Helper()
	if _, err := fs.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("%s: Stat gave %v, want not exist", name, err)
	}
}

// extContent returns n deterministic bytes with little repetition, so that
// a shifted copy does not compare equal and zlib cannot shrink them much.
func extContent(n int) []byte {
	b := make([]byte, n)
	x := uint32(88172645)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// extExpectText sends line and fails unless the reply is code with text
// exactly.
func extExpectText(t testing.TB, c *rawClient, line string, code int, text string) {
	t.Helper()
	got, msg := c.cmd(line)
	if got != code || msg != text {
		t.Fatalf("%s: got %d %q, want %d %q", line, got, msg, code, text)
	}
}

// extFeatures returns the FEAT lines without their leading space.
func extFeatures(t testing.TB, c *rawClient) []string {
	t.Helper()
	text := c.expect("FEAT", 211)
	lines := strings.Split(text, "\n")
	var feats []string
	for _, l := range lines[1 : len(lines)-1] {
		feats = append(feats, strings.TrimPrefix(l, " "))
	}
	return feats
}

// extHasFeature reports whether FEAT lists feat exactly.
func extHasFeature(t testing.TB, c *rawClient, feat string) bool {
	t.Helper()
	for _, f := range extFeatures(t, c) {
		if f == feat {
			return true
		}
	}
	return false
}

// extEndlessFs serves "/endless", a file of pseudo-random bytes that
// claims to be a terabyte long, over an inner filesystem, and records the
// error a transfer handle's FileTransferError saw.
type extEndlessFs struct {
	afero.Fs
	mu       sync.Mutex
	xferErrs []error
}

const extEndlessSize = 1 << 40

func (fs *extEndlessFs) Stat(name string) (os.FileInfo, error) {
	if name == "/endless" {
		return extEndlessInfo{}, nil
	}
	return fs.Fs.Stat(name)
}

func (fs *extEndlessFs) Open(name string) (afero.File, error) {
	return fs.OpenFile(name, os.O_RDONLY, 0)
}

func (fs *extEndlessFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if name == "/endless" {
		f, err := afero.NewMemMapFs().Create("/endless")
		if err != nil {
			return nil, err
		}
		return &extEndlessFile{File: f, x: 2463534242}, nil
	}
	f, err := fs.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &extRecordingFile{File: f, fs: fs}, nil
}

// transferErrors returns what FileTransferError calls saw.
func (fs *extEndlessFs) transferErrors() []error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]error(nil), fs.xferErrs...)
}

type extRecordingFile struct {
	afero.File
	fs *extEndlessFs
}

func (f *extRecordingFile) TransferError(err error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.xferErrs = append(f.fs.xferErrs, err)
}

type extEndlessFile struct {
	afero.File
	x uint32
}

func (f *extEndlessFile) Read(p []byte) (int, error) {
	for i := range p {
		f.x ^= f.x << 13
		f.x ^= f.x >> 17
		f.x ^= f.x << 5
		p[i] = byte(f.x)
	}
	return len(p), nil
}

func (f *extEndlessFile) Seek(int64, int) (int64, error) { return 0, nil }

func (f *extEndlessFile) Stat() (os.FileInfo, error) { return extEndlessInfo{}, nil }

type extEndlessInfo struct{}

func (extEndlessInfo) Name() string       { return "endless" }
func (extEndlessInfo) Size() int64        { return extEndlessSize }
func (extEndlessInfo) Mode() os.FileMode  { return 0o644 }
func (extEndlessInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (extEndlessInfo) IsDir() bool        { return false }
func (extEndlessInfo) Sys() any           { return nil }

// extHookPaths records the Paths the command hooks see for each verb.
type extHookPaths struct {
	mu    sync.Mutex
	paths map[string][]string
}

func (h *extHookPaths) hook(_ context.Context, c *Command) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.paths == nil {
		h.paths = map[string][]string{}
	}
	h.paths[c.Verb] = append([]string(nil), c.Paths...)
	return nil
}

func (h *extHookPaths) get(verb string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paths[verb]
}

// withExtHook adds h as a command hook.
func withExtHook(h *extHookPaths) serverOption {
	return func(_ *testDriver, srv *Server) { srv.CommandHooks = append(srv.CommandHooks, h.hook) }
}

// extReadAll reads a data connection to its end within a bound.
func extReadAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading the data connection: %v", err)
	}
	return b
}
