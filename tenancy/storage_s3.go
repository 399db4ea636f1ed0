package tenancy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/tenancy/internal/s3fs"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// BackendS3 keeps a tenant's files in an S3-compatible object store.
const BackendS3 = "s3"

// Secret is a credential: it prints, formats and logs as "[redacted]",
// so no configuration dump or log line can carry it.
type Secret string

// String returns "[redacted]".
func (Secret) String() string { return "[redacted]" }

// GoString returns "[redacted]".
func (Secret) GoString() string { return "[redacted]" }

// LogValue returns "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText returns "[redacted]".
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// S3Config is the object store of a BackendS3 tenant: the [storage] keys
// of its file (CONFIG.md), checked and with its credentials read (from
// the tenant file, a credentials file or the environment) when the file
// is loaded.
type S3Config struct {
	// Endpoint is the store's URL: https://host[:port] (or http:// on a
	// trusted network, loopback in tests).
	Endpoint string
	// Region is the bucket's region (default "us-east-1").
	Region string
	// Bucket holds the tenant's objects.
	Bucket string
	// Prefix is the tenant's key prefix, as s3fs.CleanPrefix returns it
	// ("" is the whole bucket); no two tenants' prefixes in one bucket
	// may contain each other.
	Prefix string
	// PathStyle addresses the bucket in the path (most self-hosted
	// stores) rather than the host name.
	PathStyle bool
	// CAFile is a PEM file of CAs trusted instead of the system's.
	CAFile string
	// InsecureSkipVerify turns off certificate checks; only when set
	// explicitly, and logged as a warning when the storage opens.
	InsecureSkipVerify bool
	// AccessKeyID and SecretAccessKey are the credentials.
	AccessKeyID     string
	SecretAccessKey Secret
	// PartSize is an upload's first part size (s3fs.Config.PartSize).
	PartSize int64
	// MaxRenameObjects bounds a directory rename (s3fs.Config).
	MaxRenameObjects int
	// Timeout bounds each request to the store (s3fs.Config.OpTimeout).
	Timeout time.Duration
}

// identity is what decides whether a reload keeps a tenant's open
// storage: every setting, the secret as a hash.
func (c *S3Config) identity() string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%q|%q|%q|%q|%v|%q|%v|%q|%q|%d|%d|%d", c.Endpoint, c.Region, c.Bucket, c.Prefix,
		c.PathStyle, c.CAFile, c.InsecureSkipVerify, c.AccessKeyID, string(c.SecretAccessKey), c.PartSize, c.MaxRenameObjects, c.Timeout)))
	return "s3:" + hex.EncodeToString(h[:])
}

// rawStorage is a tenant file's [storage] table: the keys of every
// backend, then those of s3.
type rawStorage struct {
	Backend  string `toml:"backend"`
	Dir      string `toml:"dir"`
	ReadOnly bool   `toml:"read_only"`
	MaxDepth int    `toml:"max_path_depth"`
	MaxLen   int    `toml:"max_path_length"`

	Endpoint           string        `toml:"endpoint"`
	Region             string        `toml:"region"`
	Bucket             string        `toml:"bucket"`
	Prefix             string        `toml:"prefix"`
	PathStyle          bool          `toml:"path_style"`
	CAFile             string        `toml:"tls_ca_file"`
	InsecureSkipVerify bool          `toml:"tls_insecure_skip_verify"`
	AccessKeyID        string        `toml:"access_key_id"`
	SecretAccessKey    string        `toml:"secret_access_key"`
	CredentialsFile    string        `toml:"credentials_file"`
	AccessKeyIDEnv     string        `toml:"access_key_id_env"`
	SecretKeyEnv       string        `toml:"secret_access_key_env"`
	PartSize           conf.Size     `toml:"part_size"`
	MaxRenameObjects   int           `toml:"max_rename_objects"`
	Timeout            conf.Duration `toml:"timeout"`
}

// s3Set reports whether any s3 key is set (refused on other backends).
func (r *rawStorage) s3Set() bool {
	return r.Endpoint != "" || r.Region != "" || r.Bucket != "" || r.Prefix != "" || r.PathStyle ||
		r.CAFile != "" || r.InsecureSkipVerify || r.AccessKeyID != "" || r.SecretAccessKey != "" ||
		r.CredentialsFile != "" || r.AccessKeyIDEnv != "" || r.SecretKeyEnv != "" || r.PartSize != 0 ||
		r.MaxRenameObjects != 0 || r.Timeout != 0
}

// parseS3 checks the s3 keys and reads the credentials; dir anchors
// relative paths. No message names a credential's value.
func parseS3(sink *conf.Sink, dir string, r *rawStorage) *S3Config {
	c := &S3Config{Region: r.Region, Bucket: r.Bucket, PathStyle: r.PathStyle, InsecureSkipVerify: r.InsecureSkipVerify,
		PartSize: int64(r.PartSize), MaxRenameObjects: r.MaxRenameObjects, Timeout: time.Duration(r.Timeout)}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	u, err := url.Parse(r.Endpoint)
	switch {
	case r.Endpoint == "":
		sink.Add("storage.endpoint", "missing: the s3 backend needs the store's URL, like \"https://s3.example.com\"")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "":
		sink.Add("storage.endpoint", "%q: want https://host[:port] (or http:// on a trusted network), without a path, user or query", r.Endpoint)
	default:
		c.Endpoint = u.Scheme + "://" + u.Host
	}
	if r.Bucket == "" {
		sink.Add("storage.bucket", "missing: the s3 backend needs a bucket")
	} else if err := s3BucketName(r.Bucket); err != nil {
		sink.Add("storage.bucket", "%q: %v", r.Bucket, err)
	}
	if p, err := s3fs.CleanPrefix(r.Prefix); err != nil {
		sink.Add("storage.prefix", "%q: want elements separated by \"/\", none empty, \".\" or \"..\", without NUL or backslash", r.Prefix)
	} else {
		c.Prefix = p
	}
	if r.CAFile != "" {
		c.CAFile = absUnder(dir, r.CAFile)
		if _, err := loadCAFile(c.CAFile); err != nil {
			sink.Add("storage.tls_ca_file", "%v", err)
		}
	}
	if (r.CAFile != "" || r.InsecureSkipVerify) && c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "https://") {
		sink.Add("storage.endpoint", "TLS settings are set but the endpoint is not https://")
	}
	if r.InsecureSkipVerify && r.CAFile != "" {
		sink.Add("storage.tls_insecure_skip_verify", "set together with tls_ca_file: choose one")
	}
	if r.PartSize != 0 && (r.PartSize < s3fs.MinPartSize || r.PartSize > 1<<30) {
		sink.Add("storage.part_size", "%d: want 5M to 1G (0: the default, 8M)", int64(r.PartSize))
	}
	if r.MaxRenameObjects < 0 || r.MaxRenameObjects > 1000000 {
		sink.Add("storage.max_rename_objects", "%d: want 1 to 1000000 (0: the default, %d)", r.MaxRenameObjects, s3fs.DefaultMaxRenameObjects)
	}
	if r.Timeout < 0 {
		sink.Add("storage.timeout", "want a positive duration (0: the default, 60s)")
	}
	sources := 0
	if r.AccessKeyID != "" || r.SecretAccessKey != "" {
		sources++
		if r.AccessKeyID == "" || r.SecretAccessKey == "" {
			sink.Add("storage.access_key_id", "set both access_key_id and secret_access_key, or neither")
		}
		c.AccessKeyID, c.SecretAccessKey = r.AccessKeyID, Secret(r.SecretAccessKey)
	}
	if r.CredentialsFile != "" {
		sources++
		id, secret, err := readCredentialsFile(absUnder(dir, r.CredentialsFile))
		if err != nil {
			sink.Add("storage.credentials_file", "%v", err)
		}
		c.AccessKeyID, c.SecretAccessKey = id, Secret(secret)
	}
	if r.AccessKeyIDEnv != "" || r.SecretKeyEnv != "" {
		sources++
		for _, kv := range []struct{ key, name string }{{"storage.access_key_id_env", r.AccessKeyIDEnv}, {"storage.secret_access_key_env", r.SecretKeyEnv}} {
			if kv.name == "" || os.Getenv(kv.name) == "" {
				sink.Add(kv.key, "%q: want the name of a set, non-empty environment variable (both access_key_id_env and secret_access_key_env)", kv.name)
			}
		}
		c.AccessKeyID, c.SecretAccessKey = os.Getenv(r.AccessKeyIDEnv), Secret(os.Getenv(r.SecretKeyEnv))
	}
	if sources != 1 {
		sink.Add("storage.access_key_id", "want the credentials from exactly one of: access_key_id and secret_access_key, credentials_file, access_key_id_env and secret_access_key_env (%d given)", sources)
	}
	return c
}

// s3BucketName checks the S3 bucket naming rules that matter here.
func s3BucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return errors.New("want 3 to 63 characters")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return errors.New("want lower-case letters, digits, '-' and '.'")
		}
	}
	return nil
}

// readCredentialsFile reads a TOML file holding access_key_id and
// secret_access_key (mode 0600 advised). Errors never quote its content.
func readCredentialsFile(p string) (id, secret string, err error) {
	data, err := readConfigFile(p)
	if err != nil {
		return "", "", fmt.Errorf("cannot read %q: %v", p, err)
	}
	var v struct {
		ID     string `toml:"access_key_id"`
		Secret string `toml:"secret_access_key"`
	}
	md, err := toml.Decode(string(data), &v)
	if err != nil {
		return "", "", fmt.Errorf("%q: not TOML with access_key_id and secret_access_key", p)
	}
	if len(md.Undecoded()) > 0 || v.ID == "" || v.Secret == "" {
		return "", "", fmt.Errorf("%q: want exactly the keys access_key_id and secret_access_key, both set", p)
	}
	return v.ID, v.Secret, nil
}

// loadCAFile reads a PEM file of CA certificates.
func loadCAFile(p string) (*x509.CertPool, error) {
	data, err := readConfigFile(p)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", p, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%q holds no PEM certificate", p)
	}
	return pool, nil
}

// s3Attempts is how many times minio-go sends one request (1 + retries).
const s3Attempts = 5

// openS3 builds the tenant's s3fs: a minio-go client for the endpoint and
// credentials, no request made (a store that is down fails the commands
// that need it with 451, not the start).
func openS3(c *S3Config, log *slog.Logger) (*s3fs.Fs, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, err
	}
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("no default HTTP transport")
	}
	tr = tr.Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := loadCAFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if c.InsecureSkipVerify {
		log.Warn("tenancy: s3 storage with tls_insecure_skip_verify: the store's certificate is not checked", "endpoint", c.Endpoint, "bucket", c.Bucket)
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	// A store's reply headers are a few KiB (user metadata is at most
	// 2 KiB); Go's default allows 10 MiB per reply.
	tr.MaxResponseHeaderBytes = maxReplyHeaderBytes
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = s3fs.DefaultOpTimeout
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKeyID, string(c.SecretAccessKey), ""),
		Secure:       u.Scheme == "https",
		Transport:    &boundedTransport{base: tr, timeout: timeout},
		Region:       c.Region,
		BucketLookup: lookup,
		// minio-go retries every request whose body it can rewind
		// (all of s3fs's: parts and PUTs are byte slices) on network
		// errors, 5xx, 408, 429 and throttling codes (SlowDown...),
		// with full-jitter backoff from 200 ms doubling to at most 1 s:
		// s3Attempts tries span about 2.4 s at worst, enough for a
		// throttled store, while one that is down fails a command
		// within seconds rather than a minute. Its default (10) would
		// hold a session for about 8 s per request.
		MaxRetries: s3Attempts,
	})
	if err != nil {
		return nil, err
	}
	return s3fs.New(s3fs.Config{Client: client, Bucket: c.Bucket, Prefix: c.Prefix, PartSize: c.PartSize,
		MaxRenameObjects: c.MaxRenameObjects, OpTimeout: c.Timeout, Logger: log})
}

// s3Overlap reports whether two tenants' s3 storages could reach each
// other's keys: the same endpoint and bucket, one prefix within the other.
func s3Overlap(a, b *S3Config) bool {
	if a == nil || b == nil || !strings.EqualFold(a.Endpoint, b.Endpoint) || a.Bucket != b.Bucket {
		return false
	}
	return strings.HasPrefix(a.Prefix, b.Prefix) || strings.HasPrefix(b.Prefix, a.Prefix)
}

// Bounds of a store's replies, which are input like any client's bytes.
const (
	// maxReplyBytes bounds the body of every reply but an object's
	// bytes: listing pages (1000 keys of at most 1024 bytes, URL-encoded,
	// with their sizes, times and owners: under 4 MiB), upload, copy and
	// error documents. minio-go reads them whole (CompleteMultipartUpload
	// with io.ReadAll) or decodes them as they come.
	maxReplyBytes = 8 << 20
	// maxReplyTags bounds the XML tags (bytes '<') in such a body. A
	// listing entry has about 26 (11 elements with their end tags), so
	// a page of 1000 has about 26,000; minio-go decodes every <Contents>
	// into a 592-byte ObjectInfo, and a hostile page of empty elements
	// (11 bytes each) would otherwise cost 50 times its size: this keeps
	// one page's decoding under about 40 MB.
	maxReplyTags = 48 << 10
	// maxReplyHeaderBytes bounds a reply's header block.
	maxReplyHeaderBytes = 64 << 10
)

// errReplyTooLarge fails a reply past maxReplyBytes or maxReplyTags.
var errReplyTooLarge = errors.New("the object store's reply is larger than any valid one; refused")

// boundedTransport bounds what a store's replies may cost: a request that
// comes without a context of its own (minio-go's Core.ListObjectsV2 sends
// context.Background) gets the storage's timeout per attempt, over its
// headers and body, so a store that never answers or sends a listing a
// byte at a time cannot hold it; every body but an object's bytes is
// limited to maxReplyBytes and maxReplyTags. Object bytes (a GET's 2xx
// body) are bounded by s3fs's read watchdog instead, since a download
// may rightly take hours.
type boundedTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

// RoundTrip sends req with those bounds.
func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var cancel context.CancelFunc
	if req.Context().Done() == nil {
		var ctx context.Context
		ctx, cancel = context.WithTimeout(req.Context(), t.timeout)
		req = req.WithContext(ctx)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		if cancel != nil {
			cancel()
		}
		return nil, err
	}
	objectBytes := req.Method == http.MethodGet && resp.StatusCode/100 == 2 && !req.URL.Query().Has("list-type")
	if !objectBytes || cancel != nil {
		resp.Body = &boundedBody{rc: resp.Body, cancel: cancel, limited: !objectBytes, bytesLeft: maxReplyBytes, tagsLeft: maxReplyTags}
	}
	return resp, nil
}

// boundedBody is a reply's body under boundedTransport's limits; Close
// ends the request's own context, if it was given one.
type boundedBody struct {
	rc        io.ReadCloser
	cancel    context.CancelFunc
	limited   bool
	bytesLeft int
	tagsLeft  int
}

// Read reads, failing once the body passes its limits.
func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.limited {
		b.bytesLeft -= n
		b.tagsLeft -= bytes.Count(p[:n], []byte{'<'})
		if b.bytesLeft < 0 || b.tagsLeft < 0 {
			return 0, errReplyTooLarge
		}
	}
	return n, err
}

// Close closes the body and ends its context.
func (b *boundedBody) Close() error {
	err := b.rc.Close()
	if b.cancel != nil {
		b.cancel()
	}
	return err
}
