package tenancy

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are the cost parameters of an argon2id hash.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	KeyLen  uint32 // bytes of output
	SaltLen uint32 // bytes of salt
}

// DefaultArgon2Params returns OWASP's recommended minimum for argon2id
// (19 MiB, two passes, one thread): a check costs tens of milliseconds,
// and the credential cache spares repeated logins that cost.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// Limits on the parameters a configured hash may carry, so that a typo in
// a tenant file cannot make every login allocate gigabytes.
const (
	maxArgon2Memory  = 1 << 20 // KiB: 1 GiB
	maxArgon2Time    = 64
	maxArgon2Threads = 64
	maxArgon2KeyLen  = 256
)

// argon2Bounds refuses cost parameters outside the limits above.
func argon2Bounds(m, t, p uint64) error {
	if m < 8 || m > maxArgon2Memory || t < 1 || t > maxArgon2Time || p < 1 || p > maxArgon2Threads || m < 8*p {
		return fmt.Errorf("argon2id parameters out of range: want 8*p <= m <= %d, 1 <= t <= %d, 1 <= p <= %d", maxArgon2Memory, maxArgon2Time, maxArgon2Threads)
	}
	return nil
}

// HashPasswordArgon2id returns the standard string form of an argon2id
// hash of password: $argon2id$v=19$m=M,t=T,p=P$SALT$HASH (unpadded base64).
// Parameters a tenant file would refuse are refused, so that every hash
// it makes loads.
func HashPasswordArgon2id(password string, p Argon2Params) (string, error) {
	if err := argon2Bounds(uint64(p.Memory), uint64(p.Time), uint64(p.Threads)); err != nil {
		return "", err
	}
	if p.KeyLen < 16 || p.KeyLen > maxArgon2KeyLen || p.SaltLen < 8 || p.SaltLen > 1024 {
		return "", fmt.Errorf("argon2id lengths out of range: want 16 to %d bytes of key and 8 to 1024 of salt", maxArgon2KeyLen)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// HashPasswordBcrypt returns a bcrypt hash ($2a$) of password at cost.
func HashPasswordBcrypt(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// argon2Hash is a parsed argon2id string.
type argon2Hash struct {
	p    Argon2Params
	salt []byte
	key  []byte
}

// parseArgon2id parses the standard string form of an argon2id hash.
func parseArgon2id(s string) (*argon2Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errors.New("not an argon2id hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("argon2id version %q: want v=%d", parts[2], argon2.Version)
	}
	var h argon2Hash
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return nil, errors.New("argon2id parameters: want m=KIB,t=PASSES,p=THREADS")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return nil, fmt.Errorf("argon2id parameter %q: want m, t and p", k)
		}
	}
	if err := argon2Bounds(m, t, p); err != nil {
		return nil, err
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, errors.New("argon2id salt: want at least 8 bytes in unpadded base64")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > maxArgon2KeyLen {
		return nil, errors.New("argon2id hash: want 16 to 256 bytes in unpadded base64")
	}
	h.p = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), KeyLen: uint32(len(h.key)), SaltLen: uint32(len(h.salt))}
	return &h, nil
}

// isBcrypt reports whether s looks like a bcrypt hash.
func isBcrypt(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

// checkPasswordHash says what is wrong with a configured hash, without
// repeating it.
func checkPasswordHash(s string) error {
	switch {
	case s == "":
		return errors.New("missing: want an argon2id or bcrypt hash")
	case strings.HasPrefix(s, "$argon2id$"):
		_, err := parseArgon2id(s)
		return err
	case strings.HasPrefix(s, "$2"):
		if !isBcrypt(s) {
			return errors.New("malformed bcrypt hash: want 60 characters starting $2a$, $2b$ or $2y$")
		}
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return errors.New("malformed bcrypt hash")
		}
		return nil
	}
	return errors.New("not a password hash: want argon2id ($argon2id$...) or bcrypt ($2b$...); plain passwords are not accepted")
}

// verifyPassword reports whether password matches the hash, comparing in
// constant time.
func verifyPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		h, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
		return subtle.ConstantTimeCompare(got, h.key) == 1
	}
	if isBcrypt(hash) {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	return false
}
