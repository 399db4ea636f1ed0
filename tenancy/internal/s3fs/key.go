package s3fs

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxKeyBytes is the longest object key S3 accepts (1024 bytes of UTF-8).
// A name whose key would be longer is refused with ErrNameTooLong before
// any request is made.
const MaxKeyBytes = 1024

// Errors of key normalisation. Each is a refusal of the name as given:
// nothing is rewritten into another name.
var (
	ErrBadName     = errors.New("s3fs: name has an empty, \".\" or \"..\" element, a NUL or invalid UTF-8")
	ErrNameTooLong = errors.New("s3fs: name too long for an object key")
	ErrBadPrefix   = errors.New("s3fs: prefix has an empty, \".\" or \"..\" element, a NUL, a backslash or invalid UTF-8")
)

// checkSegment refuses one element of a path: empty, ".", "..", a NUL or
// invalid UTF-8. Unicode is kept byte for byte (no normalisation form is
// applied, as on a Linux disk): a name in NFD and the same name in NFC are
// two objects, and no byte sequence can turn into "." or ".." or "/"
// because nothing is rewritten.
func checkSegment(s string) bool {
	if s == "" || s == "." || s == ".." || strings.IndexByte(s, 0) >= 0 {
		return false
	}
	return utf8.ValidString(s)
}

// CleanPrefix checks a tenant's key prefix and returns it in the one form
// Key joins to: "" (the whole bucket) or elements joined by "/" with a
// trailing "/", so that no key under one prefix is under another tenant's
// prefix unless one prefix contains the other (which the configuration
// refuses). Leading and trailing slashes are dropped; anything else that
// Key would refuse in a name, and a backslash (some stores treat it as a
// separator), is refused.
func CleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, s := range strings.Split(p, "/") {
		if !checkSegment(s) || strings.IndexByte(s, '\\') >= 0 {
			return "", ErrBadPrefix
		}
	}
	if len(p)+1 > MaxKeyBytes/2 {
		return "", ErrBadPrefix
	}
	return p + "/", nil
}

// Key turns an engine path (absolute and clean: "/", "/dir/file") into
// the object key under prefix, which must come from CleanPrefix. "/" is
// the prefix itself. Every element after the leading "/" must pass the
// segment rules (no empty, ".", ".." element, no NUL, valid UTF-8); a
// name that breaks them is refused, never cleaned into another one, so
// the result always starts with prefix and never holds a ".." element.
// A key over MaxKeyBytes (counting a directory marker's trailing "/") is
// refused with ErrNameTooLong.
func Key(prefix, name string) (string, error) {
	if !strings.HasPrefix(name, "/") {
		return "", ErrBadName
	}
	rel := name[1:]
	if rel == "" {
		return prefix, nil
	}
	for s := range strings.SplitSeq(rel, "/") {
		if !checkSegment(s) {
			return "", ErrBadName
		}
	}
	if len(prefix)+len(rel)+1 > MaxKeyBytes {
		return "", ErrNameTooLong
	}
	return prefix + rel, nil
}
