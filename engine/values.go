package engine

import (
	"context"
	"sync/atomic"
)

// SessionKey names one kind of per-session value of type T, for plugins
// that keep state per session: they set it when the session starts (in an
// AdmissionHook) or logs in, and read it in their other hooks, instead of
// keeping a map keyed by session ID that must be cleaned up. Keys are
// compared by identity, so each NewSessionKey call makes a key no other
// package can read or overwrite. A value is gone when its session ends,
// after the admission hooks' done functions ran; REIN keeps it, so a value
// that belongs to one login is deleted by a Login.OnEnd release.
//
// Values are meant for a few pointers per session, set rarely and read
// often: a Get takes no lock and does not allocate, a Set copies the
// session's values (a handful). To change state often, store a pointer
// to a struct of your own once and change what it points to.
type SessionKey[T any] struct {
	name string
}

// NewSessionKey returns a new key; name only describes it, in String.
func NewSessionKey[T any](name string) *SessionKey[T] {
	return &SessionKey[T]{name: name}
}

// String returns the name given to NewSessionKey.
func (k *SessionKey[T]) String() string { return k.name }

// Get returns the session's value for k, and whether it has one.
func (k *SessionKey[T]) Get(cc ClientContext) (T, bool) {
	var zero T
	vs := sessionValuesOf(cc)
	if vs == nil {
		return zero, false
	}
	v, ok := vs.get(k)
	if !ok || v == nil {
		// A nil v is a nil interface T: only k's Set stores under k.
		return zero, ok
	}
	t, ok := v.(T)
	return t, ok
}

// Set gives the session the value v for k, in place of any earlier one.
// It reports false, and stores nothing, when the session has ended or cc
// keeps no values (a ClientContext that is not the engine's and has no
// SessionValues method).
func (k *SessionKey[T]) Set(cc ClientContext, v T) bool {
	vs := sessionValuesOf(cc)
	if vs == nil {
		return false
	}
	return vs.set(k, v, true)
}

// Delete removes the session's value for k.
func (k *SessionKey[T]) Delete(cc ClientContext) {
	if vs := sessionValuesOf(cc); vs != nil {
		vs.set(k, nil, false)
	}
}

// SessionValues holds one session's values for SessionKey. The engine's
// sessions have one; a ClientContext of another kind (a test double, a
// wrapper) takes part by keeping one in a field and returning its address
// from a method SessionValues() *SessionValues. The zero value is empty
// and ready; it is safe for concurrent use and must not be copied after
// first use.
type SessionValues struct {
	// p is nil while no value was ever set, so that a session without
	// plugins pays one word; a published list is never changed.
	p atomic.Pointer[valueList]
}

// valueList is an immutable set of values.
type valueList struct {
	kv []keyValue
}

type keyValue struct {
	key, val any
}

// endedValues is the list of every ended session, known by its address:
// Set stores nothing once a session has it.
var endedValues = &valueList{}

func (vs *SessionValues) get(key any) (any, bool) {
	l := vs.p.Load()
	if l == nil {
		return nil, false
	}
	for _, e := range l.kv {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

// set replaces key's value with val (store) or removes it, copying the
// list so that readers never see it change.
func (vs *SessionValues) set(key, val any, store bool) bool {
	for {
		old := vs.p.Load()
		if old == nil && !store {
			return true
		}
		var kv []keyValue
		if old != nil {
			if old == endedValues {
				return false
			}
			kv = make([]keyValue, 0, len(old.kv)+1)
			for _, e := range old.kv {
				if e.key != key {
					kv = append(kv, e)
				}
			}
		}
		if store {
			kv = append(kv, keyValue{key, val})
		}
		if vs.p.CompareAndSwap(old, &valueList{kv: kv}) {
			return true
		}
	}
}

// end drops every value and refuses later ones.
func (vs *SessionValues) end() { vs.p.Store(endedValues) }

// sessionValuesOf returns cc's values, or nil when it keeps none.
func sessionValuesOf(cc ClientContext) *SessionValues {
	if h, ok := cc.(interface{ SessionValues() *SessionValues }); ok {
		return h.SessionValues()
	}
	return nil
}

// SessionValues returns the session's values, for SessionKey.
func (s *session) SessionValues() *SessionValues { return &s.values }

// SessionContext returns the context of cc's session, so that a driver
// can end a wait of its own (a failed-login delay) early, as the hooks can
// with the context they are given. It is cancelled when the session ends:
// QUIT, ClientContext.Close, Server.Shutdown or Close, or a dropped
// connection once the engine reads from it again (a drop while a driver
// or hook holds the command loop is seen when it returns). It is
// context.Background() for a ClientContext that is not the engine's. It
// is a function rather than a ClientContext method so that ClientContext
// implementations outside the engine need no change.
func SessionContext(cc ClientContext) context.Context {
	if s, ok := cc.(interface{ sessionContext() context.Context }); ok {
		return s.sessionContext()
	}
	return context.Background()
}

func (s *session) sessionContext() context.Context { return s.ctx }
