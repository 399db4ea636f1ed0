package s3fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/minio/minio-go/v7"
)

// upload is a write handle: the bytes stream into a multipart upload,
// which Close completes, so the object appears whole or not at all. A
// file smaller than one part is sent with one PUT at Close.
//
// Memory: at most three part buffers, the one being filled and the
// maxInFlight (two) being sent concurrently, so 3 x the current part
// size: 24 MiB at the default 8 MiB for the first 7 GiB of an upload,
// then doubling with the part size every 900 parts (see
// Config.PartSize). A buffer grows as bytes arrive, so a small file
// holds only its own size; sent buffers are reused.
type upload struct {
	fs   *Fs
	name string
	key  string

	ctx  context.Context
	stop context.CancelFunc

	buf      []byte   // the part being filled
	free     [][]byte // buffers of parts sent, to fill again
	partSize int64
	written  int64

	// excl: the object is written only if the name is still free when
	// it completes (STOU, O_EXCL): If-None-Match: * on the PUT or the
	// CompleteMultipartUpload, so that of two uploads racing to one new
	// name the second fails (fs.ErrExist) instead of replacing the first.
	excl bool

	// A resumed upload (APPE, REST+STOR) keeps the first base bytes of
	// the object that was there (old: its size and ETag; oldExists:
	// there was one) and adds the new bytes after them. The head is
	// fixed when the first byte arrives (started); until then Seek and
	// Truncate may move it within the old object.
	resume    bool
	base      int64
	old       int64
	oldETag   string
	oldExists bool
	started   bool

	uploadID string
	parts    []minio.CompletePart
	inflight []chan partResult // the parts being sent, oldest first

	failed bool
	once   sync.Once
	err    error
}

// newUpload starts an upload handle; no request is made before the first
// part is full or Close.
func newUpload(f *Fs, name, key string, excl bool) *upload {
	ctx, stop := context.WithCancel(context.Background())
	return &upload{fs: f, name: name, key: key, ctx: ctx, stop: stop, partSize: f.partSize, excl: excl}
}

// completeOpts are the options of the request that makes the object.
func (u *upload) completeOpts() minio.PutObjectOptions {
	opts := putOpts
	if u.excl {
		opts.SetMatchETagExcept("*")
	}
	return opts
}

// takenErr turns the store's refusal of a conditional write (412, the
// name was taken since the upload began) into fs.ErrExist.
func (u *upload) takenErr(err error) error {
	if u.excl && minio.ToErrorResponse(err).StatusCode == http.StatusPreconditionFailed {
		return &os.PathError{Op: "upload", Path: u.name, Err: fs.ErrExist}
	}
	return u.fs.storeErr("upload", u.name, err)
}

// partsPerSize is how many parts an upload sends at each part size
// before it doubles: 900, so that from the smallest first size (5 MiB)
// 10,000 parts still carry S3's largest object (5 TiB).
const partsPerSize = 900

// partSizeFor returns the size of part n (1-based): the first size,
// doubled after every partsPerSize parts, at most MaxPartSize.
func partSizeFor(first int64, n int) int64 {
	shift := (n - 1) / partsPerSize
	if shift > 30 {
		return MaxPartSize
	}
	return min(first<<shift, MaxPartSize)
}

func (u *upload) Name() string { return u.name }

// Write adds p to the upload, sending each part as it fills.
func (u *upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if !u.started {
		if err := u.start(); err != nil {
			u.err = err
			return 0, err
		}
	}
	n := 0
	for len(p) > 0 {
		room := int(u.partSize) - len(u.buf)
		take := min(room, len(p))
		u.buf = appendBounded(u.buf, p[:take], int(u.partSize))
		p = p[take:]
		n += take
		u.written += int64(take)
		if len(u.buf) == int(u.partSize) {
			if err := u.sendPart(); err != nil {
				u.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// appendBounded appends p to b, growing its capacity at most to limit.
func appendBounded(b, p []byte, limit int) []byte {
	if need := len(b) + len(p); need > cap(b) {
		c := min(max(2*cap(b), need, 64<<10), limit)
		nb := make([]byte, len(b), c)
		copy(nb, b)
		b = nb
	}
	return append(b, p...)
}

// WriteString writes s.
func (u *upload) WriteString(s string) (int, error) { return u.Write([]byte(s)) }

// maxInFlight is how many parts of one upload are sent at once: two, so
// that a part's round trip to the store overlaps the next one's and the
// client keeps filling a third buffer meanwhile.
const maxInFlight = 2

// sendPart sends the full buffer in the background (after the oldest
// part in flight, when maxInFlight are) and takes a free buffer to fill.
func (u *upload) sendPart() error {
	for len(u.inflight) >= maxInFlight {
		if err := u.waitOne(); err != nil {
			return err
		}
	}
	if u.uploadID == "" {
		if err := u.initiate(); err != nil {
			return err
		}
	}
	n := len(u.parts) + 1
	if n > maxParts {
		return &engine.ReplyError{Code: 552, Message: u.name + ": the file is larger than the object store takes."}
	}
	data := u.buf
	u.buf = nil
	if k := len(u.free); k > 0 {
		u.buf, u.free = u.free[k-1][:0], u.free[:k-1]
	}
	u.parts = append(u.parts, minio.CompletePart{PartNumber: n})
	ch := make(chan partResult, 1)
	u.inflight = append(u.inflight, ch)
	ctx, cancel := context.WithTimeout(u.ctx, u.fs.sendTimeout(int64(len(data))))
	id := u.uploadID
	go func() {
		defer cancel()
		p, err := u.fs.core.PutObjectPart(ctx, u.fs.bucket, u.key, id, n,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{Md5Base64: md5Base64(data), DisableContentSha256: true})
		ch <- partResult{n: n, etag: p.ETag, err: err, data: data}
	}()
	u.partSize = partSizeFor(u.fs.partSize, n+1)
	return nil
}

// initiate starts the multipart upload, within the request timeout.
func (u *upload) initiate() error {
	ctx, cancel := context.WithTimeout(u.ctx, u.fs.timeout)
	defer cancel()
	id, err := u.fs.core.NewMultipartUpload(ctx, u.fs.bucket, u.key, minio.PutObjectOptions{})
	if err != nil {
		return u.fs.storeErr("upload", u.name, err)
	}
	u.uploadID = id
	return nil
}

// minSendRate is the slowest a store may take a request body (a part,
// a small object's PUT) before sendTimeout gives up on it: 1 MiB/s.
const minSendRate = 1 << 20

// sendTimeout bounds a request that sends size bytes or makes an object
// (CompleteMultipartUpload, which S3 may take minutes over for a large
// upload, answering with whitespace meanwhile): ten request timeouts
// (10 minutes by default) plus a second per MiB. Without it a store
// that stops reading a part, or never answers, would hold the upload,
// its session and (at Complete) the tenant's name lock for ever.
func (f *Fs) sendTimeout(size int64) time.Duration {
	return 10*f.timeout + time.Duration(size/minSendRate)*time.Second
}

// waitOne returns the result of the oldest part in flight and keeps its
// buffer for a later part.
func (u *upload) waitOne() error {
	r := <-u.inflight[0]
	u.inflight[0] = nil
	u.inflight = u.inflight[1:]
	u.free = append(u.free, r.data)
	if r.err != nil {
		return u.fs.storeErr("upload", u.name, r.err)
	}
	u.parts[r.n-1].ETag = r.etag
	return nil
}

// wait returns once no part is in flight, with the first error.
func (u *upload) wait() error {
	var first error
	for len(u.inflight) > 0 {
		if err := u.waitOne(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// start fixes a resumed upload's head before its first byte: nothing
// for a fresh upload; a head under MinPartSize is read (one ranged GET)
// into the part being filled, since S3 takes no part under 5 MiB but the
// last, so memory stays within one part; a larger head is copied by the
// store into the first parts (UploadPartCopy, at most MaxPartSize each,
// no byte through the gateway). Both ask for the old object's ETag
// (If-Match), so an object replaced since the open fails the upload
// (451) rather than lend it a head from another file.
func (u *upload) start() error {
	u.started = true
	if u.base == 0 {
		return nil
	}
	if u.base < MinPartSize {
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(0, u.base-1); err != nil {
			return err
		}
		if err := opts.SetMatchETag(u.oldETag); err != nil {
			return err
		}
		// The head is under 5 MiB: one request timeout covers it.
		ctx, cancel := context.WithTimeout(u.ctx, u.fs.timeout)
		defer cancel()
		body, _, _, err := u.fs.core.GetObject(ctx, u.fs.bucket, u.key, opts)
		if err != nil {
			return u.oldErr(err)
		}
		defer body.Close()
		u.buf = make([]byte, u.base, max(u.base, 64<<10))
		if _, err := io.ReadFull(body, u.buf); err != nil {
			u.buf = nil
			return u.oldErr(err)
		}
		return nil
	}
	if err := u.initiate(); err != nil {
		return err
	}
	id := u.uploadID
	n := (u.base + MaxPartSize - 1) / MaxPartSize
	chunk := (u.base + n - 1) / n
	cond := map[string]string{"x-amz-copy-source-if-match": `"` + strings.Trim(u.oldETag, `"`) + `"`}
	for off := int64(0); off < u.base; off += chunk {
		size := min(chunk, u.base-off)
		ctx, cancel := context.WithTimeout(u.ctx, 10*u.fs.timeout)
		p, err := u.fs.core.CopyObjectPart(ctx, u.fs.bucket, u.key, u.fs.bucket, u.key, id, len(u.parts)+1, off, size, cond)
		cancel()
		if err != nil {
			return u.oldErr(err)
		}
		u.parts = append(u.parts, p)
	}
	u.partSize = partSizeFor(u.fs.partSize, len(u.parts)+1)
	return nil
}

// oldErr reports a failure to read or copy the old object's head: 451
// "replaced meanwhile" when its ETag no longer matches (412) or it is
// gone, else the store's error.
func (u *upload) oldErr(err error) error {
	if minio.ToErrorResponse(err).StatusCode == http.StatusPreconditionFailed || errNotFound(err) {
		return &engine.ReplyError{Code: 451, Message: u.name + ": the file was replaced, moved or removed before the upload began; nothing was written."}
	}
	return u.fs.storeErr("upload", u.name, err)
}

// md5Base64 is the Content-MD5 of a part or a small object: the store
// checks it, so a part damaged on the way is refused rather than stored.
// Payloads are sent unsigned (UNSIGNED-PAYLOAD, DisableContentSha256):
// the streaming SHA-256 signature minio-go otherwise uses on plain HTTP
// costs a hash of every byte and some S3-compatible stores mishandle it.
func md5Base64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// putOpts are the options of every PUT (objects and markers).
var putOpts = minio.PutObjectOptions{DisableContentSha256: true}

// partResult is what the goroutine sending a part reports.
type partResult struct {
	n    int
	etag string
	err  error
	data []byte // the part's buffer
}

// TransferError marks the upload failed (ABOR, a broken data connection,
// a refused write): Close aborts it and nothing appears.
func (u *upload) TransferError(error) { u.failed = true }

// Close completes the upload (one PUT for a file under one part), or,
// after a failure, aborts it. The error is the engine's 451 instead of
// 226: the object exists only when Close returns nil.
func (u *upload) Close() error {
	u.once.Do(func() {
		defer u.stop()
		if u.failed || u.err != nil {
			u.abort()
			if u.err == nil {
				u.err = errors.New("s3fs: upload aborted")
			}
			return
		}
		u.err = u.complete()
		if u.err != nil {
			u.abort()
		}
	})
	if u.failed {
		return nil
	}
	return u.err
}

// SendParts sends a multipart upload's last part and waits for every
// part, leaving only the request that makes the object to Close, so that
// tenancy holds its name lock across that request alone, not across a
// part's bytes. A file under one part is left whole to Close (its one
// PUT makes the object). An error is kept: Close then aborts.
func (u *upload) SendParts() error {
	if u.err != nil || u.failed || u.uploadID == "" {
		return u.err
	}
	if len(u.buf) > 0 {
		if err := u.sendPart(); err != nil {
			u.err = err
			return err
		}
	}
	if err := u.wait(); err != nil {
		u.err = err
		return err
	}
	return nil
}

// complete sends what is left and completes the upload.
func (u *upload) complete() error {
	if u.resume && u.oldExists && !u.started && u.base == u.old {
		// Nothing appended, nothing cut: the object stays as it is.
		return nil
	}
	if !u.started {
		if err := u.start(); err != nil {
			return err
		}
	}
	if u.uploadID == "" {
		ctx, cancel := context.WithTimeout(u.ctx, u.fs.sendTimeout(int64(len(u.buf))))
		defer cancel()
		_, err := u.fs.core.PutObject(ctx, u.fs.bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), md5Base64(u.buf), "", u.completeOpts())
		if err != nil {
			return u.takenErr(err)
		}
		return nil
	}
	if len(u.buf) > 0 {
		if err := u.sendPart(); err != nil {
			return err
		}
	}
	if err := u.wait(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(u.ctx, u.fs.sendTimeout(0))
	defer cancel()
	_, err := u.fs.core.CompleteMultipartUpload(ctx, u.fs.bucket, u.key, u.uploadID, u.parts, u.completeOpts())
	if err != nil {
		return u.takenErr(err)
	}
	u.uploadID = ""
	return nil
}

// abort stops the part in flight and aborts the multipart upload, with a
// context of its own (the upload's may be what failed). An abort that
// fails leaves the parts to the bucket's lifecycle rule for incomplete
// uploads, and is logged.
func (u *upload) abort() {
	u.stop()
	for _, ch := range u.inflight {
		<-ch
	}
	u.inflight = nil
	u.buf, u.free = nil, nil
	if u.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), u.fs.timeout)
	defer cancel()
	if err := u.fs.core.AbortMultipartUpload(ctx, u.fs.bucket, u.key, u.uploadID); err != nil && !errNotFound(err) {
		u.fs.log.Warn("object store: aborting an upload failed; its parts stay until the bucket's lifecycle rule removes them",
			"path", u.name, "bucket", u.fs.bucket, "err", err)
	}
	u.uploadID = ""
}

// Stat describes the upload so far (a file, for the engine's
// is-a-directory check).
func (u *upload) Stat() (os.FileInfo, error) {
	return &fileInfo{name: path.Base(u.name), size: u.pos(), mod: time.Now()}, nil
}

// pos is where the next byte goes: after the kept head and what arrived.
func (u *upload) pos() int64 { return u.base + u.written }

// Seek allows only the position writes are at (the engine seeks to 0
// before a fresh STOR in some paths), or, for a resumed upload before
// its first byte, any offset within the old object (REST+STOR: the
// head kept is [0, offset)). An offset past the old object's end is
// refused with 554.
func (u *upload) Seek(offset int64, whence int) (int64, error) {
	if (whence == io.SeekStart && offset == u.pos()) || (whence == io.SeekCurrent && offset == 0) {
		return u.pos(), nil
	}
	if whence == io.SeekStart && u.resume && !u.started && offset >= 0 {
		if offset > u.old {
			u.err = errRestBeyond(offset, u.old) // Close writes nothing
			return u.pos(), u.err
		}
		u.base = offset
		return offset, nil
	}
	u.err = errNoResume
	return u.pos(), u.err
}

// errRestBeyond refuses a REST+STOR offset past the object's end: the
// gap has no bytes to copy.
func errRestBeyond(offset, size int64) error {
	return &engine.ReplyError{Code: 554, Message: fmt.Sprintf("REST offset %d is beyond the end of the file (%d bytes); nothing was written.", offset, size)}
}

func (u *upload) Read([]byte) (int, error)           { return 0, syscall.EBADF }
func (u *upload) ReadAt([]byte, int64) (int, error)  { return 0, syscall.EBADF }
func (u *upload) Readdir(int) ([]os.FileInfo, error) { return nil, syscall.ENOTDIR }
func (u *upload) Readdirnames(int) ([]string, error) { return nil, syscall.ENOTDIR }
func (u *upload) Sync() error                        { return nil }

// Truncate allows the current length, or, for a resumed upload before
// its first byte, a shorter head of the old object.
func (u *upload) Truncate(size int64) error {
	if size == u.pos() {
		return nil
	}
	if u.resume && !u.started && size >= 0 && size <= u.base {
		u.base = size
		return nil
	}
	u.err = errNoResume
	return u.err
}

// WriteAt writes only at the end (sequential uploads).
func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	if off != u.pos() {
		u.err = errNoResume
		return 0, u.err
	}
	return u.Write(p)
}

// The engine's interfaces the upload implements.
var _ engine.FileTransferError = (*upload)(nil)
