package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/minio/minio-go/v7"
)

// fileInfo describes an object.
type fileInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
	etag string // from a HEAD (Stat), not from listings
}

// noTime is the time of a directory that has no marker object (it exists
// only because objects sit under it) and of the root: the Unix epoch, the
// same in every listing and on every instance. The newest child's time
// would need the whole subtree listed; "now" would change with every
// listing and make mirroring clients see a change each time; the zero
// time renders as year 1, which some clients reject.
var noTime = time.Unix(0, 0).UTC()

// dirInfo describes a directory (a marker's time, or noTime when mod is
// zero: a common prefix with no marker).
func dirInfo(name string, mod time.Time) *fileInfo {
	if mod.IsZero() {
		mod = noTime
	}
	return &fileInfo{name: name, mod: mod, dir: true}
}

func (i *fileInfo) Name() string { return i.name }
func (i *fileInfo) Size() int64  { return i.size }
func (i *fileInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (i *fileInfo) ModTime() time.Time { return i.mod }
func (i *fileInfo) IsDir() bool        { return i.dir }
func (i *fileInfo) Sys() any           { return nil }

// errReadOnly is what a write to a read handle gets.
var errReadOnly = &os.PathError{Op: "write", Err: syscall.EBADF}

// readFile reads an object with ranged GETs: Read streams from the
// offset Seek set (REST+RETR), ReadAt makes one GET per call.
type readFile struct {
	fs   *Fs
	name string
	key  string
	info *fileInfo
	pos  int64
	body io.ReadCloser
	ctx  context.Context
	stop context.CancelFunc
	// watch cancels the running GET when it makes no progress (no
	// headers, no byte) for the request timeout; stalled records that it
	// did, for the error.
	watch   *time.Timer
	stalled *atomic.Bool
	// resumes counts the GETs re-sent since the last byte arrived;
	// poorResumes those re-sent after less than poorResumeBytes since
	// the previous one (at resumedAt).
	resumes     int
	poorResumes int
	resumedAt   int64
	// closed ends a resume's wait when the handle is closed.
	closed chan struct{}
	once   sync.Once
}

func (r *readFile) Name() string { return r.name }

// maxReadResumes bounds the GETs a download re-sends in a row, each
// from where the broken one stopped, before its error reaches the client.
const maxReadResumes = 3

// maxPoorResumes bounds the resumes a download makes after less than
// poorResumeBytes (1 MiB) since the previous break: a store that breaks
// every GET after a few bytes (or one) would otherwise make one GET and
// one backoff per few bytes, hours for a small file, since each byte
// resets the count in a row. A long download that breaks now and then
// is resumed every time.
const (
	maxPoorResumes  = 8
	poorResumeBytes = 1 << 20
)

// open starts the GET from the current offset, for the object Stat saw
// (If-Match on its ETag): bytes of a replaced object never follow bytes
// of the old one in a resumed GET or a REST+RETR.
func (r *readFile) open() error {
	opts := minio.GetObjectOptions{}
	if r.pos > 0 {
		if err := opts.SetRange(r.pos, 0); err != nil {
			return err
		}
	}
	if r.info.etag != "" {
		if err := opts.SetMatchETag(r.info.etag); err != nil {
			return err
		}
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	stop, stalled := r.stop, &atomic.Bool{}
	r.stalled = stalled
	r.watch = time.AfterFunc(r.fs.timeout, func() { stalled.Store(true); stop() })
	body, _, hdr, err := r.fs.core.GetObject(r.ctx, r.fs.bucket, r.key, opts)
	r.watch.Stop()
	if err != nil {
		r.stop()
		if minio.ToErrorResponse(err).StatusCode == http.StatusPreconditionFailed {
			return &engine.ReplyError{Code: 451, Message: r.name + ": the file was replaced during the download; download it again."}
		}
		return r.fs.storeErr("read", r.name, r.stallErr(err))
	}
	if r.pos > 0 && !rangeFrom(hdr, r.pos) {
		r.stop()
		_ = body.Close()
		return r.fs.storeErr("read", r.name, fmt.Errorf("%w (asked from %d, got %q)", errRangeIgnored, r.pos, hdr.Get("Content-Range")))
	}
	r.body = body
	return nil
}

// errRangeIgnored is a store that answered a ranged GET with other bytes
// than those asked for (200 with the whole object, or another range):
// sending them on would put the object's head where its tail belongs.
var errRangeIgnored = errors.New("s3fs: the object store ignored the byte range asked for")

// rangeFrom reports whether a reply carries the bytes from off: 206 with
// Content-Range "bytes off-...".
func rangeFrom(hdr http.Header, off int64) bool {
	return strings.HasPrefix(hdr.Get("Content-Range"), "bytes "+strconv.FormatInt(off, 10)+"-")
}

// stallErr is err, or a timeout when the watchdog ended the GET.
func (r *readFile) stallErr(err error) error {
	if r.stalled != nil && r.stalled.Load() {
		return fmt.Errorf("s3fs: no byte from the object store for %v: %w", r.fs.timeout, context.DeadlineExceeded)
	}
	return err
}

// Read reads from the offset; the GET starts at the first Read. A GET
// that breaks (minio-go retries a request, not a body cut short) is
// sent again from the offset reached, at most maxReadResumes times in a
// row with a backoff, the wait ending with Close.
func (r *readFile) Read(p []byte) (int, error) {
	if r.pos >= r.info.size {
		return 0, io.EOF
	}
	if r.body == nil {
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	// Never more than the size Stat saw: a body longer than it (or than
	// its own Content-Length) is cut there, so RETR sends what SIZE said.
	if rem := r.info.size - r.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	r.watch.Reset(r.fs.timeout)
	n, err := r.body.Read(p)
	r.watch.Stop()
	r.pos += int64(n)
	if n > 0 {
		r.resumes = 0
	}
	if err != nil && r.stalled.Load() {
		// A GET that stalled for the whole request timeout is not
		// resumed: the client has waited that long already, and each
		// resume could cost as much again.
		r.drop()
		return n, r.fs.storeErr("read", r.name, r.stallErr(err))
	}
	if err == nil || errors.Is(err, io.EOF) {
		if errors.Is(err, io.EOF) && r.pos < r.info.size {
			err = io.ErrUnexpectedEOF
		} else {
			return n, err
		}
	}
	r.drop()
	if r.pos-r.resumedAt < poorResumeBytes {
		r.poorResumes++
	}
	r.resumedAt = r.pos
	if r.resumes >= maxReadResumes || r.poorResumes > maxPoorResumes || r.isClosed() {
		return n, r.fs.storeErr("read", r.name, err)
	}
	r.resumes++
	r.fs.log.Debug("object store: a download broke; resuming it", "path", r.name, "offset", r.pos, "err", err)
	select {
	case <-time.After(time.Duration(r.resumes) * 200 * time.Millisecond):
	case <-r.closed:
		return n, r.fs.storeErr("read", r.name, err)
	}
	if n > 0 {
		return n, nil
	}
	return r.Read(p)
}

// ReadAt reads len(p) bytes at off with one ranged GET.
func (r *readFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.info.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), r.info.size) - 1
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, end); err != nil {
		return 0, err
	}
	ctx, cancel := r.fs.ctx()
	defer cancel()
	body, _, hdr, err := r.fs.core.GetObject(ctx, r.fs.bucket, r.key, opts)
	if err != nil {
		return 0, r.fs.storeErr("read", r.name, err)
	}
	defer body.Close()
	if !rangeFrom(hdr, off) {
		return 0, r.fs.storeErr("read", r.name, fmt.Errorf("%w (asked from %d, got %q)", errRangeIgnored, off, hdr.Get("Content-Range")))
	}
	n, err := io.ReadFull(body, p[:end-off+1])
	if err != nil {
		return n, r.fs.storeErr("read", r.name, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek moves the offset; a running GET is dropped when it moves.
func (r *readFile) Seek(offset int64, whence int) (int64, error) {
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent:
		to = r.pos + offset
	case io.SeekEnd:
		to = r.info.size + offset
	default:
		return r.pos, syscall.EINVAL
	}
	if to < 0 {
		return r.pos, syscall.EINVAL
	}
	if to != r.pos {
		r.drop()
		r.pos = to
	}
	return to, nil
}

// drop ends the running GET.
func (r *readFile) drop() {
	if r.watch != nil {
		r.watch.Stop()
	}
	if r.body != nil {
		r.stop()
		_ = r.body.Close()
		r.body = nil
	}
}

// isClosed reports whether Close was called.
func (r *readFile) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// Close ends the GET (and a resume's wait).
func (r *readFile) Close() error {
	r.once.Do(func() { close(r.closed) })
	r.drop()
	return nil
}

func (r *readFile) Stat() (os.FileInfo, error)         { return r.info, nil }
func (r *readFile) Readdir(int) ([]os.FileInfo, error) { return nil, syscall.ENOTDIR }
func (r *readFile) Readdirnames(int) ([]string, error) { return nil, syscall.ENOTDIR }
func (r *readFile) Sync() error                        { return nil }
func (r *readFile) Truncate(int64) error               { return errReadOnly }
func (r *readFile) Write([]byte) (int, error)          { return 0, errReadOnly }
func (r *readFile) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }
func (r *readFile) WriteString(string) (int, error)    { return 0, errReadOnly }

// dirFile lists a directory one ListObjectsV2 page (at most listPage
// keys) at a time with the delimiter "/": objects are files, common
// prefixes directories. It holds one page, never the whole directory.
// Keys no name can reach (an empty element, ".", "..", invalid UTF-8)
// are left out.
type dirFile struct {
	fs     *Fs
	name   string
	prefix string // the directory's listing prefix
	info   os.FileInfo
	pg     *lister
	page   []os.FileInfo
}

func (d *dirFile) Name() string               { return d.name }
func (d *dirFile) Stat() (os.FileInfo, error) { return d.info, nil }

// fill reads the next page when the current one is used up.
func (d *dirFile) fill() error {
	if d.pg == nil {
		d.pg = d.fs.pager(d.prefix, "/")
	}
	// Pages whose keys are all left out (below) count as empty too, so
	// that a store returning only such keys cannot keep LIST reading
	// without an end and without a line: at most maxShownNothing pages
	// in a row (100,000 keys).
	for skipped := 0; len(d.page) == 0 && !d.pg.done; skipped++ {
		if skipped >= maxShownNothing {
			return d.fs.storeErr("list", d.name, errListLoop)
		}
		res, err := d.pg.next()
		if err != nil {
			return d.fs.storeErr("list", d.name, err)
		}
		// The store's keys are input: one outside the prefix asked for
		// (a store that ignores it, or a hostile one) is left out, never
		// cut at the prefix's length (a shorter key once panicked the
		// process) nor shown under another name; nor is one longer than
		// S3 allows (MaxKeyBytes), which no name could reach.
		for _, p := range res.CommonPrefixes {
			n, ok := strings.CutPrefix(p.Prefix, d.prefix)
			if ok && len(p.Prefix) <= MaxKeyBytes && len(n) > 1 && n[len(n)-1] == '/' && checkSegment(n[:len(n)-1]) && path.Base(n[:len(n)-1]) == n[:len(n)-1] {
				d.page = append(d.page, dirInfo(n[:len(n)-1], time.Time{}))
			}
		}
		for _, o := range res.Contents {
			n, ok := strings.CutPrefix(o.Key, d.prefix)
			if ok && len(o.Key) <= MaxKeyBytes && checkSegment(n) && path.Base(n) == n && o.Size >= 0 {
				d.page = append(d.page, &fileInfo{name: n, size: o.Size, mod: o.LastModified})
			}
		}
	}
	return nil
}

// maxShownNothing bounds the listing pages in a row that show no entry.
const maxShownNothing = 100

// Readdir returns up to n entries (n <= 0: all, up to maxReaddirAll).
func (d *dirFile) Readdir(n int) ([]os.FileInfo, error) {
	var out []os.FileInfo
	for n <= 0 || len(out) < n {
		if err := d.fill(); err != nil {
			return out, err
		}
		if len(d.page) == 0 {
			break
		}
		take := len(d.page)
		if n > 0 {
			take = min(take, n-len(out))
		}
		out = append(out, d.page[:take]...)
		d.page = d.page[take:]
		if n <= 0 && len(out) > maxReaddirAll {
			return nil, errors.New("s3fs: directory too large to read at once")
		}
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// Readdirnames is Readdir for names.
func (d *dirFile) Readdirnames(n int) ([]string, error) {
	fis, err := d.Readdir(n)
	names := make([]string, len(fis))
	for i, fi := range fis {
		names[i] = fi.Name()
	}
	return names, err
}

func (d *dirFile) Close() error                       { return nil }
func (d *dirFile) Read([]byte) (int, error)           { return 0, syscall.EISDIR }
func (d *dirFile) ReadAt([]byte, int64) (int, error)  { return 0, syscall.EISDIR }
func (d *dirFile) Seek(int64, int) (int64, error)     { return 0, syscall.EISDIR }
func (d *dirFile) Sync() error                        { return nil }
func (d *dirFile) Truncate(int64) error               { return syscall.EISDIR }
func (d *dirFile) Write([]byte) (int, error)          { return 0, syscall.EISDIR }
func (d *dirFile) WriteAt([]byte, int64) (int, error) { return 0, syscall.EISDIR }
func (d *dirFile) WriteString(string) (int, error)    { return 0, syscall.EISDIR }

var _ fs.FileInfo = (*fileInfo)(nil)
