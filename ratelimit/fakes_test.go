package ratelimit

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/engine"
)

// fakeSession is an engine.ClientContext for tests that call the limiter's
// API directly, without a server.
type fakeSession struct {
	id     uint32
	remote net.Addr

	mu   sync.Mutex
	user string
	vals engine.SessionValues
}

// SessionValues lets the limiter keep its per-session state on the fake.
func (f *fakeSession) SessionValues() *engine.SessionValues { return &f.vals }

// hookedLogin calls a Limiter's login hook around a driver's AuthUser, as
// the engine does for USER and PASS.
type hookedLogin struct {
	l   *Limiter
	drv engine.MainDriver
}

// loginVia returns a hookedLogin of l around drv, installed as Install
// would (drv's ResolveLogin found).
func loginVia(l *Limiter, drv engine.MainDriver) *hookedLogin {
	l.setup()
	l.drv = inspectDriver(drv)
	return &hookedLogin{l: l, drv: drv}
}

// AuthUser runs one password login through the hook.
func (h *hookedLogin) AuthUser(cc engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	lg := &engine.Login{Session: cc, User: user, Method: engine.LoginPassword}
	return h.l.CheckLogin(context.Background(), lg, func(context.Context, *engine.Login) (engine.ClientDriver, error) {
		return h.drv.AuthUser(cc, user, pass)
	})
}

func (f *fakeSession) Path() string                           { return "/" }
func (f *fakeSession) SetPath(string)                         {}
func (f *fakeSession) SetDebug(bool)                          {}
func (f *fakeSession) Debug() bool                            { return false }
func (f *fakeSession) ID() uint32                             { return f.id }
func (f *fakeSession) RemoteAddr() net.Addr                   { return f.remote }
func (f *fakeSession) LocalAddr() net.Addr                    { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }
func (f *fakeSession) GetClientVersion() string               { return "" }
func (f *fakeSession) Close() error                           { return nil }
func (f *fakeSession) HasTLSForControl() bool                 { return false }
func (f *fakeSession) HasTLSForTransfers() bool               { return false }
func (f *fakeSession) GetLastCommand() string                 { return "" }
func (f *fakeSession) GetLastDataChannel() engine.DataChannel { return engine.DataChannelNone }
func (f *fakeSession) LoggedIn() bool                         { return false }
func (f *fakeSession) HostName() string                       { return "" }
func (f *fakeSession) TLSServerName() string                  { return "" }
func (f *fakeSession) SetExtra(any)                           {}
func (f *fakeSession) Extra() any                             { return nil }

func (f *fakeSession) User() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.user
}

func (f *fakeSession) setUser(u string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user = u
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
