package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/afero"
)

// fault describes what goes wrong with the handles of one path.
type fault struct {
	openErr    error // OpenFile fails with it
	readErr    error // Read fails with it once readAfter bytes were read
	readAfter  int64
	writeErr   error // Write fails with it once writeAfter bytes were written
	writeAfter int64
	closeErr   error // Close fails with it (the file is closed all the same)
	// gate, when not nil, blocks every Read and Write until it is closed:
	// a disk as slow as the test wants. blocked is closed the first time
	// a call waits on the gate.
	gate    chan struct{}
	blocked chan struct{}
}

// faultFs is an afero.Fs whose files fail as the test injects. Every handle
// it opens is recorded, with the calls the engine makes on it.
type faultFs struct {
	afero.Fs

	mu      sync.Mutex
	faults  map[string]*fault
	handles []*faultFile
}

func newFaultFs() *faultFs {
	return &faultFs{Fs: afero.NewMemMapFs(), faults: make(map[string]*fault)}
}

// inject makes the handles of name, opened from now on, fail as f says.
func (ffs *faultFs) inject(name string, f *fault) {
	if f.gate != nil && f.blocked == nil {
		f.blocked = make(chan struct{})
	}
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	ffs.faults[name] = f
}

func (ffs *faultFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	return ffs.open(name, flag, perm, false)
}

func (ffs *faultFs) Open(name string) (afero.File, error) {
	return ffs.open(name, os.O_RDONLY, 0, false)
}

func (ffs *faultFs) Create(name string) (afero.File, error) {
	return ffs.open(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666, false)
}

func (ffs *faultFs) open(name string, flag int, perm os.FileMode, viaHandle bool) (*faultFile, error) {
	ffs.mu.Lock()
	f := ffs.faults[name]
	ffs.mu.Unlock()
	if f == nil {
		f = &fault{}
	}
	if f.openErr != nil {
		return nil, f.openErr
	}
	file, err := ffs.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: file, fault: f, name: name, flags: flag, viaHandle: viaHandle, closed: make(chan struct{})}
	ffs.mu.Lock()
	ffs.handles = append(ffs.handles, ff)
	ffs.mu.Unlock()
	return ff, nil
}

// handlesOf returns the handles opened for name, oldest first.
func (ffs *faultFs) handlesOf(name string) []*faultFile {
	ffs.mu.Lock()
	defer ffs.mu.Unlock()
	var hs []*faultFile
	for _, h := range ffs.handles {
		if h.name == name {
			hs = append(hs, h)
		}
	}
	return hs
}

// onlyHandle returns the one handle opened for name.
func (ffs *faultFs) onlyHandle(t testing.TB, name string) *faultFile {
	t.Helper()
	hs := ffs.handlesOf(name)
	if len(hs) != 1 {
		t.Fatalf("%d handles opened for %s, want 1", len(hs), name)
	}
	return hs[0]
}

// faultFile is a handle of a faultFs. It implements FileTransferError and
// records, in order, the TransferError and Close calls it gets.
type faultFile struct {
	afero.File
	fault     *fault
	name      string
	flags     int
	viaHandle bool // opened by GetHandle

	mu        sync.Mutex
	read      int64
	written   int64
	calls     []string
	errs      []error // the arguments of TransferError
	closeOnce sync.Once
	closed    chan struct{}
}

var _ FileTransferError = (*faultFile)(nil)

func (f *faultFile) wait() {
	if f.fault.gate == nil {
		return
	}
	select {
	case <-f.fault.gate:
		return
	default:
	}
	f.mu.Lock()
	select {
	case <-f.fault.blocked:
	default:
		close(f.fault.blocked)
	}
	f.mu.Unlock()
	<-f.fault.gate
}

func (f *faultFile) Read(p []byte) (int, error) {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault.readErr != nil {
		left := f.fault.readAfter - f.read
		if left <= 0 {
			return 0, f.fault.readErr
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := f.File.Read(p)
	f.read += int64(n)
	return n, err
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault.writeErr != nil {
		left := f.fault.writeAfter - f.written
		if left <= 0 {
			return 0, f.fault.writeErr
		}
		if int64(len(p)) > left {
			n, _ := f.File.Write(p[:left])
			f.written += int64(n)
			return n, f.fault.writeErr
		}
	}
	n, err := f.File.Write(p)
	f.written += int64(n)
	return n, err
}

func (f *faultFile) Close() error {
	f.mu.Lock()
	f.calls = append(f.calls, "Close")
	f.mu.Unlock()
	err := f.File.Close()
	f.closeOnce.Do(func() { close(f.closed) })
	if f.fault.closeErr != nil {
		return f.fault.closeErr
	}
	return err
}

func (f *faultFile) TransferError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "TransferError")
	f.errs = append(f.errs, err)
}

// callLog returns the calls so far, e.g. "TransferError,Close".
func (f *faultFile) callLog() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

// expectCalls fails unless the handle got exactly the calls want.
func (f *faultFile) expectCalls(t testing.TB, want string) {
	t.Helper()
	if got := f.callLog(); got != want {
		t.Fatalf("%s: calls %q, want %q (errors %v)", f.name, got, want, f.transferErrors())
	}
}

// transferErrors returns what TransferError received.
func (f *faultFile) transferErrors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// expectFailure fails unless the handle got one TransferError, matching
// target with errors.Is (or any error when target is nil), then Close.
func (f *faultFile) expectFailure(t testing.TB, target error) {
	t.Helper()
	f.expectCalls(t, "TransferError,Close")
	if err := f.transferErrors()[0]; err == nil || target != nil && !errors.Is(err, target) {
		t.Fatalf("%s: TransferError(%v), want %v", f.name, err, target)
	}
}

// handleCall is one call of GetHandle.
type handleCall struct {
	name   string
	flags  int
	offset int64
}

// handleFs is a faultFs with ClientDriverExtensionFileTransfer.
type handleFs struct {
	*faultFs
	mu    sync.Mutex
	calls []handleCall
}

var _ ClientDriverExtensionFileTransfer = (*handleFs)(nil)

func (h *handleFs) GetHandle(name string, flags int, offset int64) (FileTransfer, error) {
	h.mu.Lock()
	h.calls = append(h.calls, handleCall{name, flags, offset})
	h.mu.Unlock()
	f, err := h.open(name, flags, 0o666, true)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (h *handleFs) lastCall(t testing.TB) handleCall {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) == 0 {
		t.Fatal("GetHandle was not called")
	}
	return h.calls[len(h.calls)-1]
}

// newFaultServer starts a test server over a faultFs holding /f.bin with
// content, and logs a client in.
func newFaultServer(t *testing.T, content []byte, opts ...serverOption) (*faultFs, *testServer, *rawClient) {
	t.Helper()
	ffs := newFaultFs()
	if content != nil {
		writeFile(t, ffs.Fs, "/f.bin", content)
	}
	ts := newTestServer(t, append([]serverOption{withFs(ffs)}, opts...)...)
	return ffs, ts, ts.login(t)
}

var errDisk = errors.New("injected disk failure")

func TestFaultDownloadReadError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"plain error", errDisk, 451},
		{"reply error", fmt.Errorf("%w: %w", errDisk, Refuse(452, "Disk gone.")), 452},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			content := pattern(1 << 20)
			ffs, _, c := newFaultServer(t, content)
			ffs.inject("/f.bin", &fault{readErr: tc.err, readAfter: 100_000})
			data := c.epsv()
			c.expect("RETR f.bin", 150)
			got := expectClosed(t, data, "data connection")
			if code, text := c.read(); code != tc.code {
				t.Fatalf("after a read error: %d %s, want %d", code, text, tc.code)
			}
			if len(got) != 100_000 || !bytes.Equal(got, content[:100_000]) {
				t.Fatalf("client got %d bytes, want the 100000 read before the error", len(got))
			}
			ffs.onlyHandle(t, "/f.bin").expectFailure(t, errDisk)
			c.expect("NOOP", 200)
		})
	}
}

func TestFaultUploadWriteError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
		text string
	}{
		{"plain error", errDisk, 451, ""},
		{"quota", Refuse(552, "Quota\r\nexceeded."), 552, "Quotaexceeded."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ffs, _, c := newFaultServer(t, nil)
			ffs.inject("/up.bin", &fault{writeErr: tc.err, writeAfter: 100_000})
			content := pattern(1 << 20)
			data := c.epsv()
			c.expect("STOR up.bin", 150)
			sendAll(data, content)
			_ = data.Close()
			code, text := c.read()
			if code != tc.code || tc.text != "" && text != tc.text {
				t.Fatalf("after a write error: %d %q, want %d %q", code, text, tc.code, tc.text)
			}
			expectFile(t, ffs.Fs, "/up.bin", content[:100_000])
			h := ffs.onlyHandle(t, "/up.bin")
			h.expectFailure(t, nil)
			if err := h.transferErrors()[0]; !errors.Is(err, errDisk) && !errors.As(err, new(*ReplyError)) {
				t.Fatalf("TransferError(%v), want the injected error", err)
			}
		})
	}
}

func TestFaultCloseError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"plain error", errDisk, 451},
		{"reply error", Refuse(552, "Over quota."), 552},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ffs, _, c := newFaultServer(t, nil)
			ffs.inject("/up.bin", &fault{closeErr: tc.err})
			data := c.epsv()
			c.expect("STOR up.bin", 150)
			sendAll(data, []byte("hello"))
			_ = data.Close()
			c.expectRead(tc.code)
			// The copy itself succeeded: Close's failure is no transfer error.
			ffs.onlyHandle(t, "/up.bin").expectCalls(t, "Close")
		})
	}
}

func TestFaultOpenError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
		text string
	}{
		{"permission", fs.ErrPermission, 550, "/f.bin: permission denied."},
		{"reply error", Refuse(450, "Busy, try later."), 450, "Busy, try later."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ffs, _, c := newFaultServer(t, []byte("abc"))
			ffs.inject("/f.bin", &fault{openErr: tc.err})
			c.expect("EPSV", 229)
			if code, text := c.cmd("RETR f.bin"); code != tc.code || text != tc.text {
				t.Fatalf("RETR: %d %q, want %d %q", code, text, tc.code, tc.text)
			}
			c.expect("EPSV", 229)
			if code, _ := c.cmd("STOR f.bin"); code != tc.code {
				t.Fatalf("STOR: %d, want %d", code, tc.code)
			}
			expectFile(t, ffs.Fs, "/f.bin", []byte("abc"))
		})
	}
}

func TestFaultAbortGivesErrTransferAborted(t *testing.T) {
	t.Parallel()
	ffs, _, c := newFaultServer(t, pattern(1<<20))
	f := &fault{gate: make(chan struct{})}
	ffs.inject("/f.bin", f)
	data := c.epsv()
	c.expect("RETR f.bin", 150)
	recv(t, f.blocked, "the transfer to read the file")
	c.send("ABOR")
	// ABOR closes the data connection at once, though the disk is stuck.
	if got := expectClosed(t, data, "data connection"); len(got) != 0 {
		t.Fatalf("got %d bytes before ABOR", len(got))
	}
	close(f.gate)
	c.expectRead(426)
	c.expectRead(226)
	ffs.onlyHandle(t, "/f.bin").expectFailure(t, ErrTransferAborted)
	c.expect("NOOP", 200)
}

func TestFaultAbortBeforeDataConnection(t *testing.T) {
	t.Parallel()
	ffs, _, c := newFaultServer(t, []byte("abc"))
	c.expect("EPSV", 229) // nobody connects
	c.expect("RETR f.bin", 150)
	c.send("ABOR")
	c.expectRead(426)
	c.expectRead(226)
	ffs.onlyHandle(t, "/f.bin").expectFailure(t, ErrTransferAborted)
}

func TestFaultStalledDownload(t *testing.T) {
	t.Parallel()
	ffs, _, c := newFaultServer(t, pattern(16<<20), withConnTimeout(1))
	data := c.epsv()
	// A small window only speeds the stall up; the test never reads.
	smallReadBuffer(t, data)
	c.expect("RETR f.bin", 150)
	// The client reads nothing.
	code, text := c.read()
	if code != 426 || !strings.Contains(text, "stalled") {
		t.Fatalf("stalled download: %d %s, want 426 stalled", code, text)
	}
	ffs.onlyHandle(t, "/f.bin").expectFailure(t, ErrDataConnStalled)
}

func TestFaultStalledUpload(t *testing.T) {
	t.Parallel()
	ffs, _, c := newFaultServer(t, nil, withConnTimeout(1))
	data := c.epsv()
	c.expect("STOR up.bin", 150)
	sendAll(data, []byte("partial")) // and nothing more, without closing
	code, text := c.read()
	if code != 426 || !strings.Contains(text, "stalled") {
		t.Fatalf("stalled upload: %d %s, want 426 stalled", code, text)
	}
	ffs.onlyHandle(t, "/up.bin").expectFailure(t, ErrDataConnStalled)
}

func TestFaultClientDropsDownload(t *testing.T) {
	t.Parallel()
	ffs, _, c := newFaultServer(t, pattern(16<<20))
	data := c.epsv()
	c.expect("RETR f.bin", 150)
	if _, err := io.ReadFull(data, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	_ = data.Close() // with unread bytes: a reset
	c.expectRead(426)
	ffs.onlyHandle(t, "/f.bin").expectFailure(t, nil)
	c.expect("NOOP", 200)
}

func TestFaultSuccessNeverCallsTransferError(t *testing.T) {
	t.Parallel()
	content := pattern(300_000)
	ffs, _, c := newFaultServer(t, content)
	if got := c.retr("f.bin"); !bytes.Equal(got, content) {
		t.Fatalf("RETR got %d bytes", len(got))
	}
	c.stor("up.bin", content)
	data := c.epsv()
	c.expect("APPE up.bin", 150)
	sendAll(data, []byte("tail"))
	_ = data.Close()
	c.expectRead(226)
	c.expect("REST 10", 350)
	data = c.epsv()
	c.expect("RETR f.bin", 150)
	got := expectClosed(t, data, "data connection")
	c.expectRead(226)
	if !bytes.Equal(got, content[10:]) {
		t.Fatalf("REST RETR got %d bytes", len(got))
	}
	if list := c.list("LIST"); !strings.Contains(list, "up.bin") {
		t.Fatalf("LIST: %q", list)
	}
	expectFile(t, ffs.Fs, "/up.bin", append(append([]byte(nil), content...), "tail"...))
	for _, name := range []string{"/f.bin", "/up.bin"} {
		hs := ffs.handlesOf(name)
		if len(hs) != 2 {
			t.Fatalf("%d handles of %s, want 2", len(hs), name)
		}
		for _, h := range hs {
			h.expectCalls(t, "Close")
		}
	}
}

func TestFaultGetHandleUsed(t *testing.T) {
	t.Parallel()
	hfs := &handleFs{faultFs: newFaultFs()}
	content := []byte("0123456789")
	writeFile(t, hfs.Fs, "/f.bin", content)
	ts := newTestServer(t, withFs(hfs))
	c := ts.login(t)

	check := func(want handleCall) *faultFile {
		t.Helper()
		if got := hfs.lastCall(t); got != want {
			t.Fatalf("GetHandle%+v, want %+v", got, want)
		}
		hs := hfs.handlesOf(want.name)
		h := hs[len(hs)-1]
		if !h.viaHandle {
			t.Fatalf("the transfer of %s used OpenFile, not GetHandle", want.name)
		}
		return h
	}

	if got := c.retr("f.bin"); !bytes.Equal(got, content) {
		t.Fatalf("RETR got %q", got)
	}
	check(handleCall{"/f.bin", os.O_RDONLY, 0}).expectCalls(t, "Close")

	c.expect("REST 3", 350)
	data := c.epsv()
	c.expect("RETR f.bin", 150)
	if got := expectClosed(t, data, "data connection"); string(got) != "3456789" {
		t.Fatalf("RETR after REST 3 got %q", got)
	}
	c.expectRead(226)
	check(handleCall{"/f.bin", os.O_RDONLY, 3})

	c.stor("new.bin", []byte("abcdef"))
	check(handleCall{"/new.bin", os.O_WRONLY | os.O_CREATE | os.O_TRUNC, 0})

	c.expect("REST 4", 350)
	c.stor("new.bin", []byte("XY"))
	check(handleCall{"/new.bin", os.O_WRONLY | os.O_CREATE, 4})
	expectFile(t, hfs.Fs, "/new.bin", []byte("abcdXY"))

	data = c.epsv()
	c.expect("APPE new.bin", 150)
	sendAll(data, []byte("!"))
	_ = data.Close()
	c.expectRead(226)
	check(handleCall{"/new.bin", os.O_WRONLY | os.O_CREATE | os.O_APPEND, 0})
	expectFile(t, hfs.Fs, "/new.bin", []byte("abcdXY!"))
}
