package tenancy

import (
	"errors"
	"flag"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// HashFlags is how `ftpgate hash-password` hashes a password for a
// tenant file: --algo, --bcrypt-cost, --argon2-memory and --argon2-time.
type HashFlags struct {
	algo         string
	cost         int
	mem, passes  uint
	argon2Params Argon2Params
}

// NewHashFlags registers the flags on fs: argon2id with
// DefaultArgon2Params by default, bcrypt at bcrypt.DefaultCost.
func NewHashFlags(fs *flag.FlagSet) *HashFlags {
	h := &HashFlags{argon2Params: DefaultArgon2Params()}
	fs.StringVar(&h.algo, "algo", "argon2id", "hash `algorithm`: argon2id or bcrypt")
	fs.IntVar(&h.cost, "bcrypt-cost", bcrypt.DefaultCost, "bcrypt `cost` (4-31)")
	fs.UintVar(&h.mem, "argon2-memory", uint(h.argon2Params.Memory), "argon2id memory in `KiB`")
	fs.UintVar(&h.passes, "argon2-time", uint(h.argon2Params.Time), "argon2id `passes`")
	return h
}

// Check reports, naming the flags at fault, a choice that cannot hash
// pass: an unknown --algo, argon2id parameters a tenant file would
// refuse, or more than bcrypt's 72 bytes of password.
func (h *HashFlags) Check(pass string) error {
	switch h.algo {
	case "argon2id":
		if err := argon2Bounds(uint64(h.mem), uint64(h.passes), uint64(h.argon2Params.Threads)); err != nil {
			return fmt.Errorf("--argon2-memory (m), --argon2-time (t): %w", err)
		}
	case "bcrypt":
		if len(pass) > 72 {
			return errors.New("bcrypt takes at most 72 bytes of password; use argon2id")
		}
	default:
		return fmt.Errorf("--algo %q: want argon2id or bcrypt", h.algo)
	}
	return nil
}

// Hash returns pass's hash in a tenant file's form, once Check passed.
func (h *HashFlags) Hash(pass string) (string, error) {
	if err := h.Check(pass); err != nil {
		return "", err
	}
	if h.algo == "bcrypt" {
		return HashPasswordBcrypt(pass, h.cost)
	}
	p := h.argon2Params
	p.Memory, p.Time = uint32(h.mem), uint32(h.passes) // in bounds: Check
	return HashPasswordArgon2id(pass, p)
}
