package admin

import (
	"crypto/sha256"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TokenHash is the SHA-256 digest of a token; only digests are kept in
// memory.
type TokenHash [sha256.Size]byte

// HashToken returns the digest of token.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// noToken is compared against when a tenant is unknown or has no token,
// so that such a check costs what a wrong token costs. No token hashes to
// it in practice, and the result is discarded anyway.
var noToken TokenHash

// StaticTokens is a Tokens with fixed digests: one operator token and
// optional tenant tokens. An empty token never matches.
type StaticTokens struct {
	// Operator is the operator token's digest; nil: no operator token.
	Operator *TokenHash
	// Tenants maps a tenant id to the digest of its own token.
	Tenants map[string]TokenHash
}

// NewStaticTokens returns a checker whose only token is the operator's.
func NewStaticTokens(operator string) *StaticTokens {
	h := HashToken(operator)
	return &StaticTokens{Operator: &h}
}

// IsOperator implements Tokens.
func (s *StaticTokens) IsOperator(token string) bool {
	return DigestMatches(s.Operator, token)
}

// IsTenant implements Tokens.
func (s *StaticTokens) IsTenant(tenant, token string) bool {
	h, ok := s.Tenants[tenant]
	if !ok {
		return DigestMatches(nil, token)
	}
	return DigestMatches(&h, token)
}

// DigestMatches reports whether token's digest is *want, in constant
// time (conf.TokenMatches); a nil want (an unknown tenant, a tenant without a token) runs
// the same comparison against a digest nothing matches and reports false.
func DigestMatches(want *TokenHash, token string) bool {
	if want == nil {
		_ = conf.TokenMatches(noToken[:], token)
		return false
	}
	return conf.TokenMatches(want[:], token)
}
