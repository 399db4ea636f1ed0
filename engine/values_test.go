package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// plugState is a plugin's per-session state in these tests.
type plugState struct {
	remote string
}

func TestSessionValuesVisibleToHooksAndDriverThenGone(t *testing.T) {
	t.Parallel()
	key := NewSessionKey[*plugState]("plugin")
	other := NewSessionKey[*plugState]("another plugin")
	seen := make(chan string, 20)
	look := func(where string, cc ClientContext) {
		st, ok := key.Get(cc)
		if !ok {
			seen <- where + ": none"
			return
		}
		if _, ok := other.Get(cc); ok {
			seen <- where + ": another key's value"
			return
		}
		if st.remote != cc.RemoteAddr().String() {
			seen <- where + ": another session's value"
			return
		}
		seen <- where
	}
	ended := make(chan ClientContext, 10)
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.AdmissionHooks = []AdmissionHook{func(_ context.Context, cc ClientContext) (func(), error) {
			if !key.Set(cc, &plugState{remote: cc.RemoteAddr().String()}) {
				return nil, fmt.Errorf("Set refused")
			}
			return func() {
				look("done", cc)
				ended <- cc
			}, nil
		}}
		srv.LoginHooks = []LoginHook{func(ctx context.Context, l *Login, next LoginFunc) (ClientDriver, error) {
			look("login", l.Session)
			return next(ctx, l)
		}}
		srv.CommandHooks = []CommandHook{func(_ context.Context, cmd *Command) error {
			if cmd.Verb == "NOOP" {
				look("command", cmd.Session)
			}
			return nil
		}}
		srv.TransferHooks = []TransferHook{func(tr *Transfer, next CopyFunc) CopyFunc {
			look("transfer", tr.Session)
			return next
		}}
		srv.Driver = &valueDriver{testDriver: srv.Driver.(*testDriver), look: look}
	}))
	writeFile(t, ts.driver.fs, "/f", []byte("x"))

	// Two sessions at once, each with its own value.
	a, b := ts.login(t), ts.login(t)
	for _, c := range []*rawClient{a, b} {
		c.expect("NOOP", 200)
		_ = c.retr("f")
	}
	a.expect("QUIT", 221)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil { // waits until every session is gone
		t.Fatal(err)
	}
	b.expectReplyThenClose(421)
	want := map[string]int{"login": 2, "driver": 2, "command": 2, "transfer": 2, "done": 2}
	for range 10 {
		got := recv(t, seen, "a look")
		if want[got] == 0 {
			t.Fatalf("unexpected look %q", got)
		}
		want[got]--
	}
	for range 2 {
		cc := recv(t, ended, "a session's end")
		if _, ok := key.Get(cc); ok {
			t.Fatal("a value outlived its session")
		}
		if key.Set(cc, &plugState{}) {
			t.Fatal("Set stored a value on an ended session")
		}
		if SessionContext(cc).Err() == nil {
			t.Fatal("an ended session's context is not done")
		}
	}
}

// valueDriver looks at the session's value in AuthUser.
type valueDriver struct {
	*testDriver
	look func(string, ClientContext)
}

func (d *valueDriver) AuthUser(cc ClientContext, user, pass string) (ClientDriver, error) {
	d.look("driver", cc)
	return d.testDriver.AuthUser(cc, user, pass)
}

func TestSessionContextEndsWithTheServer(t *testing.T) {
	t.Parallel()
	waiting := make(chan struct{})
	ended := make(chan error, 1)
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.Driver = &waitingDriver{testDriver: srv.Driver.(*testDriver), waiting: waiting, ended: ended}
	}))
	c := ts.dial(t)
	c.expect("USER test", 331)
	c.send("PASS test")
	recv(t, waiting, "the driver's wait")
	_ = ts.srv.Close()
	if err := recv(t, ended, "the end of the driver's wait"); err == nil {
		t.Fatal("the wait ended without the session's context")
	}
}

// waitingDriver's AuthUser waits for the session to end, as a driver's
// failed-login delay would if the server stopped meanwhile.
type waitingDriver struct {
	*testDriver
	waiting chan struct{}
	ended   chan error
}

func (d *waitingDriver) AuthUser(cc ClientContext, _, _ string) (ClientDriver, error) {
	ctx := SessionContext(cc)
	close(d.waiting)
	<-ctx.Done()
	d.ended <- ctx.Err()
	return nil, ctx.Err()
}

// fakeContext is a ClientContext of a plugin's unit test: it keeps values
// in a SessionValues of its own.
type fakeContext struct {
	ClientContext
	values SessionValues
}

func (f *fakeContext) SessionValues() *SessionValues { return &f.values }

func TestSessionKeyOnOtherClientContexts(t *testing.T) {
	t.Parallel()
	key := NewSessionKey[int]("n")
	var bare struct{ ClientContext }
	if key.Set(bare, 1) {
		t.Fatal("Set stored a value on a ClientContext without values")
	}
	if _, ok := key.Get(bare); ok {
		t.Fatal("Get found a value on a ClientContext without values")
	}
	if SessionContext(bare) != context.Background() {
		t.Fatal("SessionContext of another ClientContext is not Background")
	}
	f := &fakeContext{}
	if !key.Set(f, 7) {
		t.Fatal("Set refused a ClientContext that keeps SessionValues")
	}
	if n, ok := key.Get(f); !ok || n != 7 {
		t.Fatalf("Get = %d %v, want 7", n, ok)
	}
	key.Delete(f)
	if _, ok := key.Get(f); ok {
		t.Fatal("Get found a deleted value")
	}
	key.Delete(f) // deleting nothing is harmless
}

func TestSessionKeyValues(t *testing.T) {
	t.Parallel()
	f := &fakeContext{}
	errKey := NewSessionKey[error]("err")
	strKey := NewSessionKey[string]("s")
	sameType := NewSessionKey[string]("s too")
	if strKey.String() != "s" {
		t.Fatalf("String = %q", strKey.String())
	}
	// A nil interface value is a value.
	errKey.Set(f, nil)
	if err, ok := errKey.Get(f); !ok || err != nil {
		t.Fatalf("nil error value: %v %v", err, ok)
	}
	strKey.Set(f, "one")
	sameType.Set(f, "two")
	strKey.Set(f, "three") // replaces, not adds
	if v, _ := strKey.Get(f); v != "three" {
		t.Fatalf("strKey = %q", v)
	}
	if v, _ := sameType.Get(f); v != "two" {
		t.Fatalf("keys of one type are not distinct: %q", v)
	}
	if n := len(f.values.p.Load().kv); n != 3 {
		t.Fatalf("%d values stored for 3 keys", n)
	}
	f.values.end()
	if strKey.Set(f, "late") {
		t.Fatal("Set after the end stored a value")
	}
	if _, ok := strKey.Get(f); ok {
		t.Fatal("a value survived the end")
	}
}

// TestSessionValuesConcurrent checks with -race that values can be set and
// read from many goroutines, and that no Set is lost.
func TestSessionValuesConcurrent(t *testing.T) {
	t.Parallel()
	f := &fakeContext{}
	keys := make([]*SessionKey[int], 8)
	for i := range keys {
		keys[i] = NewSessionKey[int](fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			for n := range 200 {
				k.Set(f, n*100+i)
				if v, ok := k.Get(f); !ok || v%100 != i {
					panic(fmt.Sprintf("key %d read %d %v", i, v, ok))
				}
			}
		})
	}
	wg.Wait()
	for i, k := range keys {
		if v, ok := k.Get(f); !ok || v != 199*100+i {
			t.Fatalf("key %d ends with %d %v, want %d", i, v, ok, 199*100+i)
		}
	}
}

// BenchmarkSessionKeyGet measures the read a hook makes per command.
func BenchmarkSessionKeyGet(b *testing.B) {
	f := &fakeContext{}
	keys := make([]*SessionKey[*plugState], 4)
	for i := range keys {
		keys[i] = NewSessionKey[*plugState]("k")
		keys[i].Set(f, &plugState{})
	}
	var cc ClientContext = f
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := keys[3].Get(cc); !ok {
			b.Fatal("missing")
		}
	}
}
