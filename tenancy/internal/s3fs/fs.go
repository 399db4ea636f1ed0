package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/minio/minio-go/v7"
	"github.com/spf13/afero"
)

// Defaults and bounds of Config.
const (
	// MinPartSize is S3's smallest part but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's largest part, and the largest object a single
	// CopyObject copies (above it Rename copies in parts).
	MaxPartSize = 5 << 30
	// maxParts is S3's limit of parts per upload.
	maxParts = 10000
	// DefaultPartSize is the first part size of an upload.
	DefaultPartSize = 8 << 20
	// DefaultMaxRenameObjects bounds the objects a directory rename copies.
	DefaultMaxRenameObjects = 1000
	// DefaultOpTimeout bounds one metadata request (stat, list page,
	// delete, copy of one object up to 5 GiB is given ten times that).
	DefaultOpTimeout = 60 * time.Second
	// listPage is the number of keys one ListObjectsV2 request asks for
	// (S3's largest page): a directory being read holds at most one page.
	listPage = 1000
	// maxReaddirAll bounds Readdir(0) (everything at once), which the
	// engine never asks for: past it the call fails rather than hold an
	// unbounded directory in memory.
	maxReaddirAll = 100000
)

// Config is what New needs.
type Config struct {
	// Client talks to the store (endpoint, credentials, TLS, region).
	Client *minio.Client
	// Bucket holds the objects.
	Bucket string
	// Prefix is the tenant's key prefix, as CleanPrefix returns it.
	Prefix string
	// PartSize is the first part size of an upload (default
	// DefaultPartSize, at least MinPartSize, at most 1 GiB). An upload
	// holds at most three parts in memory: the one being filled and the
	// two being sent. The size doubles every 900 parts (up to 5 GiB), so
	// 10,000 parts carry more than S3's 5 TiB object limit from any first
	// size (about 9.5 TiB from 5 MiB; doubling every 1000 parts would
	// reach only 4.9 TiB), and memory stays at 3 x PartSize for the first
	// 900 x PartSize bytes of an upload (7 GiB at 8 MiB).
	PartSize int64
	// MaxRenameObjects bounds a directory rename (default
	// DefaultMaxRenameObjects): a directory holding more objects is
	// refused with 550, since each one is copied and deleted.
	MaxRenameObjects int
	// OpTimeout bounds each request (default DefaultOpTimeout) and a
	// download's wait for its next byte; the requests that send an
	// upload's bytes or complete it get sendTimeout (ten times it plus
	// a second per MiB), a copy ten times it.
	OpTimeout time.Duration
	// Logger gets one line per store failure (never credentials).
	Logger *slog.Logger
}

// Fs is an afero.Fs over one prefix of one bucket. Its methods are safe
// for concurrent use; files are used by one goroutine at a time.
type Fs struct {
	core      minio.Core
	bucket    string
	prefix    string
	partSize  int64
	maxRename int
	timeout   time.Duration
	log       *slog.Logger
}

// New returns an Fs for cfg. It makes no request.
func New(cfg Config) (*Fs, error) {
	if cfg.Client == nil || cfg.Bucket == "" {
		return nil, errors.New("s3fs: a client and a bucket are needed")
	}
	p, err := CleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	f := &Fs{core: minio.Core{Client: cfg.Client}, bucket: cfg.Bucket, prefix: p,
		partSize: cfg.PartSize, maxRename: cfg.MaxRenameObjects, timeout: cfg.OpTimeout, log: cfg.Logger}
	if f.partSize == 0 {
		f.partSize = DefaultPartSize
	}
	if f.partSize < MinPartSize || f.partSize > 1<<30 {
		return nil, fmt.Errorf("s3fs: part size %d outside %d..%d", f.partSize, MinPartSize, 1<<30)
	}
	if f.maxRename <= 0 {
		f.maxRename = DefaultMaxRenameObjects
	}
	if f.timeout <= 0 {
		f.timeout = DefaultOpTimeout
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// UploadsWholeAtClose reports that an upload appears only when its
// handle's Close succeeds and never after a TransferError: tenancy then
// writes to the name itself, without a temporary file and a rename.
func (f *Fs) UploadsWholeAtClose() bool { return true }

// Sub returns an Fs for the directory dir (a user's home): its "/" is
// dir, so no name reaches above it.
func (f *Fs) Sub(dir string) (*Fs, error) {
	k, err := f.key("open", dir)
	if err != nil {
		return nil, err
	}
	sub := *f
	sub.prefix = dirPrefix(f.prefix, k)
	return &sub, nil
}

// Name returns "s3fs".
func (f *Fs) Name() string { return "s3fs" }

// ctx returns a context bounded by the request timeout.
func (f *Fs) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), f.timeout)
}

// key is Key under the Fs's prefix, as a PathError.
func (f *Fs) key(op, name string) (string, error) {
	k, err := Key(f.prefix, name)
	if err != nil {
		if errors.Is(err, ErrNameTooLong) {
			return "", &os.PathError{Op: op, Path: name, Err: syscall.ENAMETOOLONG}
		}
		return "", &engine.ReplyError{Code: 553, Message: "File name not allowed on this storage: it has an empty, \".\" or \"..\" element or invalid characters."}
	}
	return k, nil
}

// errNotFound reports a missing key or bucket.
func errNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || r.Code == "NotFound"
}

// storeErr turns a store failure into what the engine replies: a missing
// key is fs.ErrNotExist (550), a refused access 550 with a reason, and
// anything else (timeouts, 5xx, throttling) 451, the transient local
// error, so that clients may try again. The store's own text goes to the
// log only.
func (f *Fs) storeErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	if errNotFound(err) {
		return &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	var re *engine.ReplyError
	if errors.As(err, &re) {
		return err
	}
	r := minio.ToErrorResponse(err)
	f.log.Warn("object store request failed", "op", op, "path", name, "bucket", f.bucket,
		"status", r.StatusCode, "code", r.Code, "err", err)
	switch {
	case r.StatusCode == http.StatusForbidden || r.Code == "AccessDenied" ||
		r.Code == "InvalidAccessKeyId" || r.Code == "SignatureDoesNotMatch":
		return &engine.ReplyError{Code: 550, Message: name + ": the object store refused access (check the tenant's storage credentials)."}
	case r.StatusCode == http.StatusServiceUnavailable || r.Code == "SlowDown":
		return &engine.ReplyError{Code: 451, Message: name + ": the object store is busy; try again later."}
	case errors.Is(err, context.DeadlineExceeded):
		return &engine.ReplyError{Code: 451, Message: name + ": the object store did not answer in time; try again later."}
	default:
		return &engine.ReplyError{Code: 451, Message: name + ": the object store failed the request; try again later."}
	}
}

// statKey returns name's information: an object at key, else a directory
// when a marker or any object lies under key + "/". The root always is
// one.
func (f *Fs) statKey(op, name, key string) (os.FileInfo, error) {
	base := path.Base(name)
	if key == f.prefix {
		return dirInfo("/", time.Time{}), nil
	}
	ctx, cancel := f.ctx()
	defer cancel()
	oi, err := f.core.StatObject(ctx, f.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return &fileInfo{name: base, size: oi.Size, mod: oi.LastModified, etag: oi.ETag}, nil
	}
	if !errNotFound(err) {
		return nil, f.storeErr(op, name, err)
	}
	res, err := f.listV2(key+"/", "", "", 1)
	if err != nil {
		return nil, f.storeErr(op, name, err)
	}
	// Only a key under key + "/" makes a directory: a store that returns
	// another (it ignored the prefix) does not conjure one up.
	if len(res.Contents) == 0 || !strings.HasPrefix(res.Contents[0].Key, key+"/") {
		return nil, &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	mod := time.Time{}
	if res.Contents[0].Key == key+"/" {
		mod = res.Contents[0].LastModified
	}
	return dirInfo(base, mod), nil
}

// Stat returns name's information.
func (f *Fs) Stat(name string) (os.FileInfo, error) {
	k, err := f.key("stat", name)
	if err != nil {
		return nil, err
	}
	return f.statKey("stat", name, k)
}

// isDir reports whether name is a directory; a missing one is not.
func (f *Fs) isDir(op, name string) (bool, error) {
	k, err := f.key(op, name)
	if err != nil {
		return false, err
	}
	fi, err := f.statKey(op, name, k)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return fi.IsDir(), nil
}

// needParentDir refuses an operation whose parent directory is missing
// or a file, as a disk would.
func (f *Fs) needParentDir(op, name string) error {
	dir := path.Dir(name)
	if dir == "/" {
		return nil
	}
	ok, err := f.isDir(op, dir)
	if err != nil {
		return err
	}
	if !ok {
		return &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return nil
}

// Open opens name for reading: an object, or a directory to list.
func (f *Fs) Open(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}

// Create creates or replaces name (an upload that appears at Close).
func (f *Fs) Create(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

// errNoResume refuses a write that is neither sequential nor a resumed
// upload's head (an object cannot be written in place).
var errNoResume = &engine.ReplyError{Code: 504, Message: "Writing at this offset is not supported on this storage; upload the whole file again."}

// OpenFile opens name for reading, or for an upload: a new object with
// O_TRUNC or O_EXCL (STOR, STOU), else a resumed one (APPE with
// O_APPEND, REST+STOR then Seek to the offset) that keeps the head of
// the object there and appears, whole, at Close (see upload.start). An
// upload needs the parent directory to exist and name not to be a
// directory; with O_EXCL name may not exist either (checked before the
// upload and again by the store's conditional write at its end).
func (f *Fs) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	k, err := f.key("open", name)
	if err != nil {
		return nil, err
	}
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		fi, err := f.statKey("open", name, k)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return &dirFile{fs: f, name: name, prefix: dirPrefix(f.prefix, k), info: fi}, nil
		}
		return &readFile{fs: f, name: name, key: k, info: fi.(*fileInfo), closed: make(chan struct{})}, nil
	}
	if k == f.prefix {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	fi, err := f.statKey("open", name, k)
	switch {
	case err == nil && fi.IsDir():
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case err == nil && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case err != nil && flag&os.O_CREATE == 0:
		return nil, err
	}
	if err := f.needParentDir("open", name); err != nil {
		return nil, err
	}
	u := newUpload(f, name, k, flag&os.O_EXCL != 0)
	if flag&(os.O_TRUNC|os.O_EXCL) == 0 || flag&os.O_APPEND != 0 {
		u.resume = true
		if fi != nil {
			old := fi.(*fileInfo)
			u.oldExists, u.old, u.oldETag = true, old.size, old.etag
		}
		if flag&os.O_APPEND != 0 {
			u.base = u.old
		}
	}
	return u, nil
}

// dirPrefix is the listing prefix of a directory whose key is k.
func dirPrefix(prefix, k string) string {
	if k == prefix {
		return prefix
	}
	return k + "/"
}

// Mkdir writes name's directory marker ("name/", empty).
func (f *Fs) Mkdir(name string, _ os.FileMode) error {
	k, err := f.key("mkdir", name)
	if err != nil {
		return err
	}
	if k == f.prefix {
		return &os.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	if _, err := f.statKey("mkdir", name, k); err == nil {
		return &os.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := f.needParentDir("mkdir", name); err != nil {
		return err
	}
	ctx, cancel := f.ctx()
	defer cancel()
	_, err = f.core.PutObject(ctx, f.bucket, k+"/", strings.NewReader(""), 0, "", "", putOpts)
	return f.storeErr("mkdir", name, err)
}

// MkdirAll makes name and its missing parents.
func (f *Fs) MkdirAll(name string, perm os.FileMode) error {
	name = path.Clean("/" + name)
	if name == "/" {
		return nil
	}
	if ok, err := f.isDir("mkdir", name); err != nil || ok {
		return err
	}
	if err := f.MkdirAll(path.Dir(name), perm); err != nil {
		return err
	}
	if err := f.Mkdir(name, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Remove removes an object, or an empty directory's marker (a directory
// holding anything else is refused with ENOTEMPTY, as RMD expects).
func (f *Fs) Remove(name string) error {
	k, err := f.key("remove", name)
	if err != nil {
		return err
	}
	if k == f.prefix {
		return errors.New("refusing to remove the root")
	}
	fi, err := f.statKey("remove", name, k)
	if err != nil {
		return err
	}
	ctx, cancel := f.ctx()
	defer cancel()
	if !fi.IsDir() {
		return f.storeErr("remove", name, f.core.RemoveObject(ctx, f.bucket, k, minio.RemoveObjectOptions{}))
	}
	res, err := f.listV2(k+"/", "", "", 2)
	if err != nil {
		return f.storeErr("remove", name, err)
	}
	for _, o := range res.Contents {
		if o.Key != k+"/" {
			return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
		}
	}
	return f.storeErr("remove", name, f.core.RemoveObject(ctx, f.bucket, k+"/", minio.RemoveObjectOptions{}))
}

// RemoveAll removes name and every object under it, one listing page at
// a time.
func (f *Fs) RemoveAll(name string) error {
	k, err := f.key("remove", name)
	if err != nil {
		return err
	}
	if k == f.prefix {
		return errors.New("refusing to remove the root")
	}
	ctx, cancel := f.ctx()
	defer cancel()
	if err := f.core.RemoveObject(ctx, f.bucket, k, minio.RemoveObjectOptions{}); err != nil && !errNotFound(err) {
		return f.storeErr("remove", name, err)
	}
	return f.walk(name, k+"/", func(keys []string) error {
		for _, key := range keys {
			ctx, cancel := f.ctx()
			err := f.core.RemoveObject(ctx, f.bucket, key, minio.RemoveObjectOptions{})
			cancel()
			if err != nil && !errNotFound(err) {
				return f.storeErr("remove", name, err)
			}
		}
		return nil
	})
}

// listV2 is one ListObjectsV2 page, answered within the request
// timeout. minio-go's Core sends it without a context (it uses
// context.Background), so a store that never answers would hold the
// command forever: the call runs in a goroutine that is given up on
// after f.timeout, with 451. The goroutine left behind ends with its
// request, since tenancy's transport bounds every request that comes
// without a context by the same timeout per attempt (at most 5 attempts
// with their backoff); its result goes to a buffered channel, so
// nothing waits for it. Memory per page is bounded by that transport's
// reply limits.
func (f *Fs) listV2(prefix, token, delim string, maxKeys int) (minio.ListBucketV2Result, error) {
	type result struct {
		res minio.ListBucketV2Result
		err error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := f.core.ListObjectsV2(f.bucket, prefix, "", token, delim, maxKeys)
		ch <- result{res, err}
	}()
	t := time.NewTimer(f.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.res, r.err
	case <-t.C:
		return minio.ListBucketV2Result{}, fmt.Errorf("s3fs: listing %q: no answer within %v: %w", prefix, f.timeout, context.DeadlineExceeded)
	}
}

// maxEmptyPages bounds the truncated pages in a row that hold no key:
// past it the store is taken to be looping (a continuation token that
// never ends), and the listing fails instead of going on for ever.
const maxEmptyPages = 10

// errListLoop is a listing the store does not let end.
var errListLoop = errors.New("s3fs: the object store's listing does not progress (a continuation token repeated, or empty pages without end)")

// lister reads a listing page by page (listPage keys at most each).
type lister struct {
	f             *Fs
	prefix, delim string
	token         string
	empty         int
	done          bool
}

// pager starts a listing of prefix.
func (f *Fs) pager(prefix, delim string) *lister {
	return &lister{f: f, prefix: prefix, delim: delim}
}

// next returns the next page and sets done after the last one. A store
// that sends back the token it was given, or empty truncated pages more
// than maxEmptyPages times in a row, fails the listing with errListLoop
// (451): the reply is input, and such a store would otherwise hold the
// command (and its requests to the store) for ever.
func (l *lister) next() (minio.ListBucketV2Result, error) {
	res, err := l.f.listV2(l.prefix, l.token, l.delim, listPage)
	if err != nil {
		return res, err
	}
	if !res.IsTruncated || res.NextContinuationToken == "" {
		l.done = true
		return res, nil
	}
	if len(res.Contents) == 0 && len(res.CommonPrefixes) == 0 {
		l.empty++
	} else {
		l.empty = 0
	}
	if res.NextContinuationToken == l.token || l.empty > maxEmptyPages {
		l.done = true
		return minio.ListBucketV2Result{}, errListLoop
	}
	l.token = res.NextContinuationToken
	return res, nil
}

// walk calls fn with each page of keys under prefix (no delimiter: the
// whole tree), at most listPage at a time.
func (f *Fs) walk(name, prefix string, fn func(keys []string) error) error {
	pg := f.pager(prefix, "")
	keys := make([]string, 0, listPage)
	for !pg.done {
		res, err := pg.next()
		if err != nil {
			return f.storeErr("list", name, err)
		}
		keys = keys[:0]
		for _, o := range res.Contents {
			// A key outside the prefix asked for is never acted on
			// (RemoveAll would delete it): the store's reply is input.
			if strings.HasPrefix(o.Key, prefix) {
				keys = append(keys, o.Key)
			}
		}
		if err := fn(keys); err != nil {
			return err
		}
	}
	return nil
}

// Usage counts the bytes and objects under name (a directory marker
// counts as an object of no bytes), one listing page at a time, for
// quotas.
func (f *Fs) Usage(ctx context.Context, name string) (bytes, objects int64, err error) {
	k, err := f.key("usage", name)
	if err != nil {
		return 0, 0, err
	}
	prefix := dirPrefix(f.prefix, k)
	pg := f.pager(prefix, "")
	for !pg.done {
		if err := ctx.Err(); err != nil {
			// A store that pages without end looks like a huge bucket,
			// so only the caller can end the count (a driver's Close).
			return bytes, objects, err
		}
		res, err := pg.next()
		if err != nil {
			return bytes, objects, f.storeErr("list", name, err)
		}
		for _, o := range res.Contents {
			if strings.HasPrefix(o.Key, prefix) && o.Size >= 0 {
				bytes += o.Size
				objects++
			}
		}
	}
	return bytes, objects, nil
}

// errRenameTooBig refuses a directory rename over the bound.
func (f *Fs) errRenameTooBig(name string) error {
	return &engine.ReplyError{Code: 550, Message: fmt.Sprintf("%s: renaming a directory of more than %d objects is refused on this storage (each object is copied and deleted); move its contents in smaller parts.", name, f.maxRename)}
}

// Rename copies then deletes: an object with one server-side copy (in
// parts above 5 GiB), a directory object by object when it holds at most
// MaxRenameObjects objects. It is not atomic: a failure half-way leaves
// both names, never neither. The target may not be a directory; an object
// there is replaced.
func (f *Fs) Rename(oldname, newname string) error {
	ok, err := f.key("rename", oldname)
	if err != nil {
		return err
	}
	nk, err := f.key("rename", newname)
	if err != nil {
		return err
	}
	if ok == f.prefix || nk == f.prefix {
		return errors.New("refusing to rename the root")
	}
	if ok == nk {
		// A copy onto itself then a delete would lose the object.
		_, err := f.statKey("rename", oldname, ok)
		return err
	}
	src, err := f.statKey("rename", oldname, ok)
	if err != nil {
		return err
	}
	if dst, err := f.statKey("rename", newname, nk); err == nil {
		if dst.IsDir() || src.IsDir() {
			return &os.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := f.needParentDir("rename", newname); err != nil {
		return err
	}
	if !src.IsDir() {
		if err := f.copyObject(oldname, ok, nk, src.Size()); err != nil {
			return err
		}
		ctx, cancel := f.ctx()
		defer cancel()
		return f.storeErr("rename", oldname, f.core.RemoveObject(ctx, f.bucket, ok, minio.RemoveObjectOptions{}))
	}
	if strings.HasPrefix(nk+"/", ok+"/") {
		return &os.PathError{Op: "rename", Path: newname, Err: syscall.EINVAL}
	}
	// Collect the objects first (at most maxRename+1 keys), so that the
	// copies do not land in the listing being read and the bound is
	// known before anything is copied.
	type obj struct {
		key  string
		size int64
	}
	var objs []obj
	pg := f.pager(ok+"/", "")
	for !pg.done {
		res, err := pg.next()
		if err != nil {
			return f.storeErr("rename", oldname, err)
		}
		for _, o := range res.Contents {
			// Only keys under the directory: a foreign one would be
			// copied in and deleted (and one shorter than the prefix
			// once panicked the process at the cut below).
			if strings.HasPrefix(o.Key, ok+"/") {
				objs = append(objs, obj{o.Key, o.Size})
			}
		}
		if len(objs) > f.maxRename {
			return f.errRenameTooBig(oldname)
		}
	}
	for _, o := range objs {
		if err := f.copyObject(oldname, o.key, nk+"/"+o.key[len(ok)+1:], o.size); err != nil {
			return err
		}
	}
	for _, o := range objs {
		ctx, cancel := f.ctx()
		err := f.core.RemoveObject(ctx, f.bucket, o.key, minio.RemoveObjectOptions{})
		cancel()
		if err != nil && !errNotFound(err) {
			return f.storeErr("rename", oldname, err)
		}
	}
	return nil
}

// copyObject copies src to dst inside the bucket: one CopyObject up to
// 5 GiB, ComposeObject (UploadPartCopy in parts) above.
func (f *Fs) copyObject(name, src, dst string, size int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*f.timeout)
	defer cancel()
	srcOpts := minio.CopySrcOptions{Bucket: f.bucket, Object: src}
	dstOpts := minio.CopyDestOptions{Bucket: f.bucket, Object: dst}
	var err error
	if size <= MaxPartSize {
		_, err = f.core.Client.CopyObject(ctx, dstOpts, srcOpts)
	} else {
		_, err = f.core.Client.ComposeObject(ctx, dstOpts, srcOpts)
	}
	return f.storeErr("rename", name, err)
}

// errNoAttrs refuses changes to modes, owners and times: objects have
// none that the store keeps for a later listing.
func errNoAttrs(what string) error {
	return &engine.ReplyError{Code: 550, Message: "Object storage keeps no " + what + "; nothing was changed."}
}

// Chmod is refused: objects have no modes.
func (f *Fs) Chmod(string, os.FileMode) error { return errNoAttrs("file modes") }

// Chown is refused: objects have no owners.
func (f *Fs) Chown(string, int, int) error { return errNoAttrs("owners") }

// Chtimes is refused: an object's time is when it was stored (MDTM
// reports it), and S3 cannot set it.
func (f *Fs) Chtimes(string, time.Time, time.Time) error {
	return errNoAttrs("settable modification times")
}

var _ afero.Fs = (*Fs)(nil)
