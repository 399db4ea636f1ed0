package s3fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
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
// Memory: at most two part buffers, the one being filled and the one
// being sent (one part in flight), so 2 x the current part size: 16 MiB
// at the default 8 MiB for the first 7 GiB of an upload, then doubling
// with the part size every 900 parts (see Config.PartSize). A buffer
// grows as bytes arrive, so a small file holds only its own size.
type upload struct {
	fs   *Fs
	name string
	key  string

	ctx  context.Context
	stop context.CancelFunc

	buf      []byte // the part being filled
	spare    []byte // the buffer of the part in flight, reused after it
	partSize int64
	written  int64

	// excl: the object is written only if the name is still free when
	// it completes (STOU, O_EXCL): If-None-Match: * on the PUT or the
	// CompleteMultipartUpload, so that of two uploads racing to one new
	// name the second fails (fs.ErrExist) instead of replacing the first.
	excl bool

	uploadID string
	parts    []minio.CompletePart
	inflight chan partResult // the part being sent, or nil

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

// sendPart waits for the part in flight, then sends the full buffer in
// the background and takes the spare one to fill.
func (u *upload) sendPart() error {
	if err := u.wait(); err != nil {
		return err
	}
	if u.uploadID == "" {
		id, err := u.fs.core.NewMultipartUpload(u.ctx, u.fs.bucket, u.key, minio.PutObjectOptions{})
		if err != nil {
			return u.fs.storeErr("upload", u.name, err)
		}
		u.uploadID = id
	}
	n := len(u.parts) + 1
	if n > maxParts {
		return &engine.ReplyError{Code: 552, Message: u.name + ": the file is larger than the object store takes."}
	}
	data := u.buf
	u.buf, u.spare = u.spare[:0], data
	u.parts = append(u.parts, minio.CompletePart{PartNumber: n})
	ch := make(chan partResult, 1)
	u.inflight = ch
	ctx, id := u.ctx, u.uploadID
	go func() {
		p, err := u.fs.core.PutObjectPart(ctx, u.fs.bucket, u.key, id, n,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{Md5Base64: md5Base64(data), DisableContentSha256: true})
		ch <- partResult{n: n, etag: p.ETag, err: err}
	}()
	u.partSize = partSizeFor(u.fs.partSize, n+1)
	return nil
}

// wait returns the result of the part in flight, if any.
func (u *upload) wait() error {
	if u.inflight == nil {
		return nil
	}
	r := <-u.inflight
	u.inflight = nil
	if r.err != nil {
		return u.fs.storeErr("upload", u.name, r.err)
	}
	u.parts[r.n-1].ETag = r.etag
	return nil
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

// complete sends what is left and completes the upload.
func (u *upload) complete() error {
	if u.uploadID == "" {
		_, err := u.fs.core.PutObject(u.ctx, u.fs.bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), md5Base64(u.buf), "", u.completeOpts())
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
	_, err := u.fs.core.CompleteMultipartUpload(u.ctx, u.fs.bucket, u.key, u.uploadID, u.parts, u.completeOpts())
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
	if u.inflight != nil {
		<-u.inflight
		u.inflight = nil
	}
	u.buf, u.spare = nil, nil
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
	return &fileInfo{name: path.Base(u.name), size: u.written, mod: time.Now()}, nil
}

// Seek allows only the position writes are at (the engine seeks to 0
// before a fresh STOR in some paths); anything else is a resumption.
func (u *upload) Seek(offset int64, whence int) (int64, error) {
	if (whence == io.SeekStart && offset == u.written) || (whence != io.SeekStart && offset == 0) {
		return u.written, nil
	}
	return u.written, errNoResume
}

func (u *upload) Read([]byte) (int, error)           { return 0, syscall.EBADF }
func (u *upload) ReadAt([]byte, int64) (int, error)  { return 0, syscall.EBADF }
func (u *upload) Readdir(int) ([]os.FileInfo, error) { return nil, syscall.ENOTDIR }
func (u *upload) Readdirnames(int) ([]string, error) { return nil, syscall.ENOTDIR }
func (u *upload) Sync() error                        { return nil }

// Truncate allows only the current length.
func (u *upload) Truncate(size int64) error {
	if size == u.written {
		return nil
	}
	return errNoResume
}

// WriteAt writes only at the end (sequential uploads).
func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	if off != u.written {
		return 0, errNoResume
	}
	return u.Write(p)
}

// The engine's interfaces the upload implements.
var _ engine.FileTransferError = (*upload)(nil)
