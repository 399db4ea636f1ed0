package policy

import (
	"crypto/sha256"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TokenChecker authorises the admin API. Tenancy implements it with the
// hashed tokens of its tenant files; StaticTokens serves a single-tenant
// server. Implementations must compare in constant time.
type TokenChecker interface {
	// IsOperator reports whether token is an operator token, which may act
	// for every tenant.
	IsOperator(token string) bool
	// IsTenant reports whether token is tenant's own token. A tenant's
	// token never authorises another tenant.
	IsTenant(tenant, token string) bool
}

// TokenHash is the SHA-256 of a token; only hashes are kept in memory.
type TokenHash [sha256.Size]byte

// HashToken hashes a token for StaticTokens.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// StaticTokens is a TokenChecker with fixed hashes: one operator token and
// optional tenant tokens. An empty token never matches.
type StaticTokens struct {
	Operator *TokenHash
	Tenants  map[string]TokenHash
}

// NewStaticTokens returns a checker whose only token is the operator's.
func NewStaticTokens(operator string) *StaticTokens {
	h := HashToken(operator)
	return &StaticTokens{Operator: &h}
}

func matches(want *TokenHash, token string) bool {
	return want != nil && conf.TokenMatches(want[:], token)
}

// IsOperator implements TokenChecker.
func (s *StaticTokens) IsOperator(token string) bool { return matches(s.Operator, token) }

// IsTenant implements TokenChecker.
func (s *StaticTokens) IsTenant(tenant, token string) bool {
	h, ok := s.Tenants[tenant]
	if !ok {
		return false
	}
	return matches(&h, token)
}
