package policy

import (
	"strings"
	"sync"

	"github.com/ftpgate/ftpgate/engine"
)

// Ruling is what a tenant's policy ruled on one command of a session, for
// plugins that report it (the gateway's audit log) without importing
// them here: Hooks.Command records it, TakeRuling hands it over once.
type Ruling struct {
	// Verb is the command's verb as the hooks saw it.
	Verb string
	// Decision is "allow", "deny" or "rewrite".
	Decision string
	// Rule names what decided: the value of the policy's "rule"
	// annotation (kit: d.Annotate("rule", NAME)), "on_error" when the
	// module failed and the tenant's on_error decided, or "".
	Rule string
}

// RuleAnnotation is the annotation key whose value a Ruling reports as
// its rule.
const RuleAnnotation = "rule"

// maxRuleLen bounds a reported rule; annotations are bounded by the ABI
// already (256 bytes), this keeps a Ruling small whatever changes there.
const maxRuleLen = 128

// rulings is the session value holding a session's last rulings. A
// package-level key that is never reassigned: the per-session values it
// names are the state, and they go with their session.
var rulings = engine.NewSessionKey[*rulingSlots]("policy rulings")

// rulingSlots holds a session's last ruling in two slots: one for the
// transfer commands and one for the others, because ABOR, STAT and QUIT
// pass the command hooks while a transfer runs and must not take the
// place of the transfer's ruling before its result is reported.
type rulingSlots struct {
	mu       sync.Mutex
	transfer Ruling
	other    Ruling
}

// isTransferVerb reports whether verb opens a data transfer.
func isTransferVerb(verb string) bool {
	switch verb {
	case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
		return true
	}
	return false
}

func (s *rulingSlots) slot(verb string) *Ruling {
	if isTransferVerb(verb) {
		return &s.transfer
	}
	return &s.other
}

// recordRuling keeps d as the ruling on cc's command verb. A session that
// keeps no values (a ClientContext not the engine's) keeps no ruling.
func recordRuling(cc engine.ClientContext, verb string, d Decision) {
	s, ok := rulings.Get(cc)
	if !ok {
		s = &rulingSlots{}
		if !rulings.Set(cc, s) {
			return
		}
	}
	r := Ruling{Verb: verb, Decision: d.Action.String()}
	switch {
	case d.Err != nil:
		r.Rule = "on_error"
	default:
		for _, a := range d.Annotations {
			if v, ok := strings.CutPrefix(a, RuleAnnotation+"="); ok {
				if len(v) > maxRuleLen {
					v = v[:maxRuleLen]
				}
				r.Rule = v
				break
			}
		}
	}
	s.mu.Lock()
	*s.slot(verb) = r
	s.mu.Unlock()
}

// TakeRuling returns the ruling of the policy on cc's last command verb,
// and forgets it, so that a later command the policy never saw (refused
// before it, or not subscribed) is not reported with a stale one. ok is
// false when the policy did not rule on that command (no policy, verb not
// subscribed, refused before the policy hook ran).
func TakeRuling(cc engine.ClientContext, verb string) (r Ruling, ok bool) {
	s, has := rulings.Get(cc)
	if !has {
		return Ruling{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.slot(verb)
	r, *p = *p, Ruling{}
	// Another verb's ruling is stale: that command's result never came.
	return r, r.Verb != "" && r.Verb == verb
}
