package s3fs

import (
	"errors"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	good := map[string]string{
		"/":             "t/acme/",
		"/a":            "t/acme/a",
		"/a/b c/ü.txt":  "t/acme/a/b c/ü.txt",
		"/..a/b..":      "t/acme/..a/b..",
		"/.hidden":      "t/acme/.hidden",
		"/a\\..\\b":     "t/acme/a\\..\\b",
		"/dir/file.tar": "t/acme/dir/file.tar",
	}
	for in, want := range good {
		got, err := Key("t/acme/", in)
		if err != nil || got != want {
			t.Errorf("Key(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "a", "/../other-tenant/x", "/a/./b", "/a/../b", "/a//b", "/a/", "/a\x00b", "/\xff", "/..", "/."}
	for _, in := range bad {
		if got, err := Key("t/acme/", in); !errors.Is(err, ErrBadName) {
			t.Errorf("Key(%q) = %q, %v; want ErrBadName", in, got, err)
		}
	}
	long := "/" + strings.Repeat("x", MaxKeyBytes)
	if _, err := Key("t/acme/", long); !errors.Is(err, ErrNameTooLong) {
		t.Errorf("long name: %v", err)
	}
}

func TestCleanPrefix(t *testing.T) {
	good := map[string]string{"": "", "/": "", "t/acme": "t/acme/", "/t/acme/": "t/acme/"}
	for in, want := range good {
		if got, err := CleanPrefix(in); err != nil || got != want {
			t.Errorf("CleanPrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"a//b", "a/../b", "./a", "a\x00", "a\\b", "\xff"} {
		if _, err := CleanPrefix(in); err == nil {
			t.Errorf("CleanPrefix(%q) accepted", in)
		}
	}
}

// FuzzKey checks that whatever name arrives, a key Key accepts starts with
// the tenant's prefix, has no "..", "." or empty element after it, no NUL,
// and fits S3's key length.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"/", "/a", "/../x", "/a/./b", "/a//b", "/\x00", "/ü/..", "//", "/a/b/"} {
		f.Add("t/acme", s)
	}
	f.Fuzz(func(t *testing.T, rawPrefix, name string) {
		prefix, err := CleanPrefix(rawPrefix)
		if err != nil {
			return
		}
		k, err := Key(prefix, name)
		if err != nil {
			return
		}
		if !strings.HasPrefix(k, prefix) {
			t.Fatalf("Key(%q, %q) = %q: outside the prefix", prefix, name, k)
		}
		if len(k) > MaxKeyBytes-1 {
			t.Fatalf("Key(%q, %q): %d bytes", prefix, name, len(k))
		}
		for _, s := range strings.Split(k, "/") {
			if s == ".." || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("Key(%q, %q) = %q: bad element", prefix, name, k)
			}
		}
		if rest := k[len(prefix):]; rest != "" {
			for _, s := range strings.Split(rest, "/") {
				if s == "" || s == "." {
					t.Fatalf("Key(%q, %q) = %q: empty or dot element", prefix, name, k)
				}
			}
		}
	})
}
