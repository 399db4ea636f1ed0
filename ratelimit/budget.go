package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Budget is how long the Shared calls made for one login may wait in
// all, so that a slow shared state costs a client one deadline, not one
// per call. A connection's admission and its first login share one
// budget (later logins of the session each get a new one); it is the
// deadline of the first call that draws on it (the Shared's own). Once a
// call fails, or the budget is spent, the remaining calls of the login
// fail at once with ErrBudgetSpent, and the limiter applies their
// features' fail modes without asking again.
//
// The limiter passes it in the context of its calls (WithBudget); a
// Shared that bounds its calls by a deadline reads it (BudgetOf) and
// waits at most Start's answer, then tells Spent. Calls that give slots
// back do not draw on it: they run beside the login (Limiter.endShared).
// A Budget is safe for concurrent use.
type Budget struct {
	mu     sync.Mutex
	left   time.Duration
	set    bool // left holds the budget: the first call's deadline, less what calls waited
	failed bool // a call failed: the shared state is down or slow
}

// ErrBudgetSpent is the error of a Shared call made after an earlier
// call of the same login failed or spent its Budget.
var ErrBudgetSpent = errors.New("ratelimit: the login's wait for the shared state is spent")

// budgetKey is the context key of a Budget.
type budgetKey struct{}

// WithBudget returns ctx carrying b (ctx itself when b is nil).
func WithBudget(ctx context.Context, b *Budget) context.Context {
	if b == nil {
		return ctx
	}
	return context.WithValue(ctx, budgetKey{}, b)
}

// BudgetOf returns the Budget ctx carries, or nil.
func BudgetOf(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// Start returns how long the next call may wait: d (the call's own
// deadline) for the first, else what the earlier calls left of the
// first one's. ok is false when an earlier call failed or nothing is
// left: the call should not be made.
func (b *Budget) Start(d time.Duration) (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.set {
		b.left, b.set = d, true
	}
	if b.failed || b.left <= 0 {
		return 0, false
	}
	return b.left, true
}

// Spent records that a call waited waited, and whether it failed.
func (b *Budget) Spent(waited time.Duration, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left -= waited
	b.failed = b.failed || failed
}
