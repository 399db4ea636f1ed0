// Package s3fs is an afero.Fs over an S3-compatible object store
// (github.com/minio/minio-go/v7), for tenancy's s3 storage backend.
//
// Names become keys under a tenant's prefix through one function, Key,
// which refuses rather than rewrites any name with an empty, "." or ".."
// element, a NUL or invalid UTF-8, so no name reaches outside the prefix.
// Directories are marker objects ("dir/") and common prefixes of a
// delimiter listing. Uploads stream as multipart uploads that appear only
// when Close completes them; reads are ranged GETs; Rename is a
// server-side copy then a delete, which is not atomic.
package s3fs
