package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// A login hook that locks a user out after two failed passwords, checked
// before the driver sees a third, and that counts logged-in sessions
// without wrapping the MainDriver.
func ExampleLoginHook() {
	var mu sync.Mutex
	failures := map[string]int{} // user → failed logins
	var sessions atomic.Int32
	limit := func(ctx context.Context, l *engine.Login, next engine.LoginFunc) (engine.ClientDriver, error) {
		mu.Lock()
		locked := failures[l.User] >= 2
		mu.Unlock()
		if locked {
			return nil, engine.Refuse(530, "Too many failed logins for "+l.User+".")
		}
		fs, err := next(ctx, l)
		if err != nil {
			mu.Lock()
			failures[l.User]++
			mu.Unlock()
			return nil, err
		}
		sessions.Add(1)
		l.OnEnd(func() { sessions.Add(-1) }) // REIN, QUIT, a drop, Shutdown
		return fs, nil
	}
	srv := &engine.Server{
		Driver:     &memDriver{fs: afero.NewMemMapFs()},
		LoginHooks: []engine.LoginHook{limit},
	}
	addr, stop := startExample(srv)
	defer stop()

	c, _, _ := dialExample(addr)
	fmt.Println(c.cmd("USER demo"))
	fmt.Println(c.cmd("PASS demo"))
	fmt.Println("sessions:", sessions.Load())
	fmt.Println(c.cmd("REIN"))
	fmt.Println("sessions:", sessions.Load())
	for range 3 {
		c.cmd("USER mallory")
		fmt.Println(c.cmd("PASS guess"))
	}
	// Output:
	// 331 User name okay, need password.
	// 230 User demo logged in.
	// sessions: 1
	// 220 Service ready for new user.
	// sessions: 0
	// 530 Login incorrect.
	// 530 Login incorrect.
	// 530 Too many failed logins for mallory.
}

// A plugin keeps its state on each session with a SessionKey: set at
// admission, read by its command hook, gone with the session.
func ExampleSessionKey() {
	type budget struct{ left atomic.Int32 }
	key := engine.NewSessionKey[*budget]("command budget")
	admit := func(_ context.Context, cc engine.ClientContext) (func(), error) {
		b := &budget{}
		b.left.Store(3)
		key.Set(cc, b)
		return nil, nil
	}
	spend := func(_ context.Context, cmd *engine.Command) error {
		b, ok := key.Get(cmd.Session)
		if ok && b.left.Add(-1) < 0 {
			return engine.Refuse(421, "Command budget spent.")
		}
		return nil
	}
	srv := &engine.Server{
		Driver:         &memDriver{fs: afero.NewMemMapFs()},
		AdmissionHooks: []engine.AdmissionHook{admit},
		CommandHooks:   []engine.CommandHook{spend},
	}
	addr, stop := startExample(srv)
	defer stop()

	c, _, _ := dialExample(addr)
	fmt.Println(c.cmd("USER demo"))
	fmt.Println(c.cmd("PASS demo"))
	fmt.Println(c.cmd("NOOP"))
	fmt.Println(c.cmd("NOOP"))
	// Output:
	// 331 User name okay, need password.
	// 230 User demo logged in.
	// 200 NOOP OK.
	// 421 Command budget spent.
}

// spaceFs is a filesystem that can tell its free space (AVBL).
type spaceFs struct{ afero.Fs }

func (spaceFs) GetAvailableSpace(string) (int64, error) { return 1 << 20, nil }

// countingFs counts the files a session opens. It forwards no extension:
// Unwrap lets the engine find them on the filesystem it wraps.
type countingFs struct {
	afero.Fs
	opens *atomic.Int32
}

func (c countingFs) Open(name string) (afero.File, error) {
	c.opens.Add(1)
	return c.Fs.Open(name)
}

func (c countingFs) Unwrap() afero.Fs { return c.Fs }

// A wrapper of a ClientDriver (or of a MainDriver) adds what it needs and
// offers Unwrap; the engine finds the wrapped driver's extensions, here
// AVBL, through it.
func ExampleClientDriver_unwrap() {
	var opens atomic.Int32
	srv := &engine.Server{
		Driver: &memDriver{fs: countingFs{Fs: spaceFs{afero.NewMemMapFs()}, opens: &opens}},
	}
	addr, stop := startExample(srv)
	defer stop()

	c, _, _ := dialExample(addr)
	c.cmd("USER demo")
	c.cmd("PASS demo")
	fmt.Println(c.cmd("AVBL"))
	// Output:
	// 213 1048576
}
