package tenancy

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestHashFlags: the flags choose the algorithm and its parameters, the
// hash verifies, and a choice that cannot hash is refused naming its flag.
func TestHashFlags(t *testing.T) {
	parse := func(args ...string) *HashFlags {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		h := NewHashFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return h
	}
	for args, prefix := range map[string]string{"": "$argon2id$v=19$m=19456,t=2,p=1$", "--argon2-memory 64 --argon2-time 1": "$argon2id$v=19$m=64,t=1,p=1$",
		"--algo bcrypt --bcrypt-cost 4": "$2a$04$"} {
		hash, err := parse(strings.Fields(args)...).Hash("s3cret")
		if err != nil || !strings.HasPrefix(hash, prefix) || !verifyPassword(hash, "s3cret") || verifyPassword(hash, "other") {
			t.Errorf("%q: %q, %v; want %s... verifying s3cret only", args, hash, err, prefix)
		}
	}
	for _, tc := range []struct{ args, pass, want string }{
		{"--argon2-memory 4", "x", "--argon2-memory (m), --argon2-time (t): argon2id parameters out of range"},
		{"--argon2-memory 8589934592", "x", "out of range"},
		{"--argon2-time 65", "x", "out of range"},
		{"--algo bcrypt", strings.Repeat("x", 73), "at most 72 bytes"},
		{"--algo md5", "x", `--algo "md5": want argon2id or bcrypt`},
	} {
		h := parse(strings.Fields(tc.args)...)
		if err := h.Check(tc.pass); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want %q", tc.args, err, tc.want)
		}
		if hash, err := h.Hash(tc.pass); err == nil {
			t.Errorf("%s: Hash = %q, want an error", tc.args, hash)
		}
	}
}
