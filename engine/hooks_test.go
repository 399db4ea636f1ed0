package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// admissionProbe is an AdmissionHook double: it records its calls and the
// calls of its done function.
type admissionProbe struct {
	name  string
	err   error
	order *callOrder

	calls  atomic.Int32
	done   atomic.Int32
	doneCh chan struct{} // gets a value per done call
	remote chan net.Addr
}

func newAdmissionProbe(name string, err error, order *callOrder) *admissionProbe {
	return &admissionProbe{name: name, err: err, order: order, doneCh: make(chan struct{}, 10), remote: make(chan net.Addr, 10)}
}

func (p *admissionProbe) hook(_ context.Context, cc ClientContext) (func(), error) {
	p.calls.Add(1)
	p.order.add(p.name)
	p.remote <- cc.RemoteAddr()
	return func() {
		p.done.Add(1)
		p.doneCh <- struct{}{}
	}, p.err
}

// callOrder records names in the order of the calls.
type callOrder struct {
	mu    sync.Mutex
	names []string
}

func (o *callOrder) add(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.names = append(o.names, name)
}

func (o *callOrder) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.names, ",")
}

func TestAdmissionHookRunsBeforeBanner(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan ClientContext, 1)
	var connectedAtHook atomic.Int32
	ts := newTestServer(t, onServer(func(srv *Server) {
		d := srv.Driver.(*testDriver)
		srv.AdmissionHooks = []AdmissionHook{func(_ context.Context, cc ClientContext) (func(), error) {
			connectedAtHook.Store(d.connected.Load())
			entered <- cc
			<-release
			return nil, nil
		}}
	}))
	c := dialNoBanner(t, ts.addr)
	cc := recv(t, entered, "the admission hook")
	if got, want := cc.RemoteAddr().String(), c.conn.LocalAddr().String(); got != want {
		t.Fatalf("RemoteAddr %s, want the client's %s", got, want)
	}
	if cc.User() != "" || cc.LoggedIn() {
		t.Fatal("a new connection has a user")
	}
	// No banner while the hook runs.
	_ = c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes (%v) before the admission hook returned", n, err)
	}
	close(release)
	c.expectRead(220)
	if n := connectedAtHook.Load(); n != 0 {
		t.Fatalf("ClientConnected ran %d times before the admission hook", n)
	}
	c.expect("USER test", 331)
}

func TestAdmissionHookDoneOnceWhenAdmitted(t *testing.T) {
	t.Parallel()
	order := &callOrder{}
	p := newAdmissionProbe("a", nil, order)
	ts := newTestServer(t, onServer(func(srv *Server) { srv.AdmissionHooks = []AdmissionHook{p.hook} }))
	c := ts.login(t)
	if p.done.Load() != 0 {
		t.Fatal("done called while the connection is open")
	}
	c.expect("QUIT", 221)
	recv(t, p.doneCh, "done")
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls, done := p.calls.Load(), p.done.Load(); calls != 1 || done != 1 {
		t.Fatalf("hook called %d times, done %d times; want 1 and 1", calls, done)
	}
}

func TestAdmissionHookRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
		text string
	}{
		{"plain error", errors.New("go away"), 421, "Service not available, closing control connection."},
		{"reply error", fmt.Errorf("ban: %w", Refuse(550, "Banned\r\n 530 forged")), 550, "Banned 530 forged"},
		{"success code", Refuse(220, "welcome?"), 421, "welcome?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			order := &callOrder{}
			p := newAdmissionProbe("a", tc.err, order)
			ts := newTestServer(t, onServer(func(srv *Server) { srv.AdmissionHooks = []AdmissionHook{p.hook} }))
			c := dialNoBanner(t, ts.addr)
			code, text := c.read()
			if code != tc.code || text != tc.text {
				t.Fatalf("refused connection got %d %q, want %d %q", code, text, tc.code, tc.text)
			}
			if rest := expectClosed(t, c.conn, "refused connection"); len(rest) > 0 {
				t.Fatalf("bytes after the refusal: %q", rest)
			}
			recv(t, p.doneCh, "done")
			if err := ts.srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if p.done.Load() != 1 {
				t.Fatalf("done called %d times, want 1", p.done.Load())
			}
			if n := ts.driver.connected.Load(); n != 0 {
				t.Fatalf("ClientConnected called %d times for a refused connection", n)
			}
		})
	}
}

func TestAdmissionHooksInOrderFirstRefusalStops(t *testing.T) {
	t.Parallel()
	order := &callOrder{}
	a := newAdmissionProbe("a", nil, order)
	b := newAdmissionProbe("b", Refuse(421, "Too many connections from your address."), order)
	c := newAdmissionProbe("c", nil, order)
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.AdmissionHooks = []AdmissionHook{a.hook, b.hook, c.hook}
	}))
	cl := dialNoBanner(t, ts.addr)
	if text := cl.expectRead(421); text != "Too many connections from your address." {
		t.Fatalf("refusal text %q", text)
	}
	expectClosed(t, cl.conn, "refused connection")
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := order.String(); got != "a,b" {
		t.Fatalf("hooks ran as %q, want a,b", got)
	}
	if a.done.Load() != 1 || b.done.Load() != 1 || c.calls.Load() != 0 || c.done.Load() != 0 {
		t.Fatalf("done a=%d b=%d, c called %d done %d; want 1 1 0 0",
			a.done.Load(), b.done.Load(), c.calls.Load(), c.done.Load())
	}
}

// commandLog is a CommandHook double that records copies of the commands
// it sees.
type commandLog struct {
	mu   sync.Mutex
	cmds []Command
}

func (l *commandLog) hook(_ context.Context, c *Command) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := *c
	cp.Paths = append([]string(nil), c.Paths...)
	l.cmds = append(l.cmds, cp)
	return nil
}

// last returns the last command seen with verb.
func (l *commandLog) last(t testing.TB, verb string) Command {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.cmds) - 1; i >= 0; i-- {
		if l.cmds[i].Verb == verb {
			return l.cmds[i]
		}
	}
	t.Fatalf("the hook did not see %s", verb)
	return Command{}
}

func (l *commandLog) verbs() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var vs []string
	for _, c := range l.cmds {
		vs = append(vs, c.Verb)
	}
	return strings.Join(vs, ",")
}

func TestCommandHookSeesParsedCommands(t *testing.T) {
	t.Parallel()
	log := &commandLog{}
	ts := newTestServer(t, onServer(func(srv *Server) { srv.CommandHooks = []CommandHook{log.hook} }))
	writeFile(t, ts.driver.fs, "/b.txt", []byte("b"))
	writeFile(t, ts.driver.fs, "/a/x.txt", []byte("x"))
	c := ts.dial(t)
	c.expect("user test", 331)
	c.expect("pAsS test", 230)
	if got := log.verbs(); got != "USER,PASS" {
		t.Fatalf("before login the hook saw %q, want USER,PASS", got)
	}
	if u := log.last(t, "USER"); u.Arg != "test" || u.Paths != nil || u.Session == nil {
		t.Fatalf("USER seen as %+v", u)
	}
	c.expect("CWD /a", 250)
	c.expect("DELE ../b.txt", 250)
	expectNoFile(t, ts.driver.fs, "/b.txt")
	c.expect("RNFR x.txt", 350)
	c.expect("RNTO ../y.txt", 250)
	c.expect("NOOP", 200)

	for _, want := range []struct {
		verb, arg string
		paths     []string
	}{
		{"CWD", "/a", []string{"/a"}},
		{"DELE", "../b.txt", []string{"/b.txt"}},
		{"RNFR", "x.txt", []string{"/a/x.txt"}},
		{"RNTO", "../y.txt", []string{"/a/x.txt", "/y.txt"}},
		{"NOOP", "", nil},
	} {
		got := log.last(t, want.verb)
		if got.Arg != want.arg || !reflect.DeepEqual(got.Paths, want.paths) {
			t.Errorf("%s seen with Arg %q Paths %q, want %q %q", want.verb, got.Arg, got.Paths, want.arg, want.paths)
		}
		if got.Session.ID() != log.last(t, "USER").Session.ID() {
			t.Errorf("%s seen on another session", want.verb)
		}
	}
	expectFile(t, ts.driver.fs, "/y.txt", []byte("x"))
}

func TestCommandHookRefuses(t *testing.T) {
	t.Parallel()
	deny := func(verb string, err error) CommandHook {
		return func(_ context.Context, c *Command) error {
			if c.Verb == verb {
				return err
			}
			return nil
		}
	}
	var denyUser atomic.Bool
	denyUser.Store(true)
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.CommandHooks = []CommandHook{
			deny("DELE", Refuse(553, "Deleting is\r\nforbidden\n200 OK")),
			deny("MKD", errors.New("internal policy detail")),
			func(_ context.Context, c *Command) error {
				if c.Verb == "USER" && denyUser.Load() {
					return Refuse(530, "No anonymous users.")
				}
				return nil
			},
		}
	}))
	writeFile(t, ts.driver.fs, "/keep.txt", []byte("k"))
	c := ts.dial(t)
	if text := c.expect("USER test", 530); text != "No anonymous users." {
		t.Fatalf("USER refused with %q", text)
	}
	denyUser.Store(false)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if text := c.expect("DELE keep.txt", 553); text != "Deleting isforbidden200 OK" {
		t.Fatalf("DELE refused with %q", text)
	}
	expectFile(t, ts.driver.fs, "/keep.txt", []byte("k"))
	if text := c.expect("MKD d", 550); strings.Contains(text, "policy") {
		t.Fatalf("a plain error leaked its text: %q", text)
	}
	expectNoFile(t, ts.driver.fs, "/d")
	c.expect("NOOP", 200)
}

// rewriteHook replaces the path of verb with to(path).
func rewriteHook(verb string, to func(string) string) CommandHook {
	return func(_ context.Context, c *Command) error {
		if c.Verb == verb && len(c.Paths) == 1 {
			c.Paths[0] = to(c.Paths[0])
		}
		return nil
	}
}

func TestCommandHookRewritesPaths(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.CommandHooks = []CommandHook{
			rewriteHook("STOR", func(p string) string { return "/quarantine/" + filepath.Base(p) }),
		}
	}))
	if err := ts.driver.fs.Mkdir("/quarantine", 0o755); err != nil {
		t.Fatal(err)
	}
	c := ts.login(t)
	c.stor("x", []byte("payload"))
	expectFile(t, ts.driver.fs, "/quarantine/x", []byte("payload"))
	expectNoFile(t, ts.driver.fs, "/x")
}

func TestCommandHookRewrittenPathsStayUnderRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	base := filepath.Join(root, "base")
	if err := os.MkdirAll(filepath.Join(base, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	fs := afero.NewBasePathFs(afero.NewOsFs(), base)
	ts := newTestServer(t, withFs(fs), onServer(func(srv *Server) {
		srv.CommandHooks = []CommandHook{
			rewriteHook("STOR", func(p string) string { return "/../../etc/" + filepath.Base(p) }),
			rewriteHook("MKD", func(string) string { return "../../escape" }),
		}
	}))
	c := ts.login(t)
	c.stor("evil", []byte("x"))
	c.expect("MKD anything", 257)
	expectFile(t, fs, "/etc/evil", []byte("x"))
	if _, err := os.Stat(filepath.Join(base, "escape")); err != nil {
		t.Fatalf("MKD rewritten to ../../escape did not land below the root: %v", err)
	}
	for _, outside := range []string{filepath.Join(root, "etc"), filepath.Join(root, "escape")} {
		if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists outside the root (%v)", outside, err)
		}
	}
}

// transferLog is a TransferHook double: it records the transfers it
// wraps and meters their bytes with io.LimitReader.
type transferLog struct {
	mu        sync.Mutex
	transfers []Transfer
	bytes     []int64
	errs      []error
}

func (l *transferLog) hook(t *Transfer, next CopyFunc) CopyFunc {
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		n, err := next(ctx, dst, io.LimitReader(src, 1<<62))
		l.mu.Lock()
		defer l.mu.Unlock()
		l.transfers = append(l.transfers, *t)
		l.bytes = append(l.bytes, n)
		l.errs = append(l.errs, err)
		return n, err
	}
}

// last returns the last transfer recorded, its bytes and its error.
func (l *transferLog) last(t testing.TB) (Transfer, int64, error) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.transfers) == 0 {
		t.Fatal("no transfer recorded")
	}
	i := len(l.transfers) - 1
	return l.transfers[i], l.bytes[i], l.errs[i]
}

func TestTransferHookSeesAndMeters(t *testing.T) {
	t.Parallel()
	log := &transferLog{}
	ts := newTestServer(t, onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{log.hook} }))
	c := ts.login(t)
	content := pattern(777_777)

	check := func(verb, path string, dir Direction, offset, n int64) {
		t.Helper()
		x, got, err := log.last(t)
		if x.Verb != verb || x.Path != path || x.Direction != dir || x.Offset != offset || x.TLS || x.Session == nil {
			t.Fatalf("hook saw %+v, want %s %s %s offset %d without TLS", x, verb, path, dir, offset)
		}
		if got != n || err != nil {
			t.Fatalf("%s metered %d bytes (%v), want %d", verb, got, err, n)
		}
	}

	c.expect("MKD d", 257)
	c.expect("CWD d", 250)
	c.stor("f.bin", content)
	check("STOR", "/d/f.bin", Upload, 0, int64(len(content)))
	c.retr("f.bin")
	check("RETR", "/d/f.bin", Download, 0, int64(len(content)))
	c.expect("REST 1000", 350)
	data := c.epsv()
	c.expect("RETR /d/f.bin", 150)
	expectClosed(t, data, "data connection")
	c.expectRead(226)
	check("RETR", "/d/f.bin", Download, 1000, int64(len(content)-1000))
	listing := c.list("NLST")
	check("NLST", "/d", Download, 0, int64(len(listing)))
	if list := c.list("LIST"); !strings.Contains(list, "f.bin") {
		t.Fatalf("LIST through the hook: %q", list)
	}
}

func TestTransferHookErrorFailsTransfer(t *testing.T) {
	t.Parallel()
	quota := Refuse(552, "Quota exceeded.")
	for _, tc := range []struct {
		name string
		verb string
		err  error
		code int
	}{
		{"refuse upload", "STOR", quota, 552},
		{"plain error download", "RETR", errDisk, 451},
		{"refuse download", "RETR", Refuse(450, "Try later."), 450},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refuse := func(*Transfer, CopyFunc) CopyFunc {
				return func(context.Context, io.Writer, io.Reader) (int64, error) { return 0, tc.err }
			}
			ffs, _, c := newFaultServer(t, []byte("content"), onServer(func(srv *Server) {
				srv.TransferHooks = []TransferHook{refuse}
			}))
			data := c.epsv()
			c.expect(tc.verb+" f.bin", 150)
			if got := expectClosed(t, data, "data connection"); len(got) != 0 {
				t.Fatalf("got %d bytes from a refused transfer", len(got))
			}
			c.expectRead(tc.code)
			ffs.onlyHandle(t, "/f.bin").expectFailure(t, tc.err)
			c.expect("NOOP", 200)
		})
	}
}

func TestTransferHookQuotaWithLimitReader(t *testing.T) {
	t.Parallel()
	const limit = 1000
	quota := func(_ *Transfer, next CopyFunc) CopyFunc {
		return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			n, err := next(ctx, dst, io.LimitReader(src, limit+1))
			if err == nil && n > limit {
				return n, Refuse(552, "Quota exceeded.")
			}
			return n, err
		}
	}
	ffs, _, c := newFaultServer(t, nil, onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{quota} }))
	c.stor("small.bin", pattern(limit))
	expectFile(t, ffs.Fs, "/small.bin", pattern(limit))
	data := c.epsv()
	c.expect("STOR big.bin", 150)
	sendAll(data, pattern(100_000))
	_ = data.Close()
	c.expectRead(552)
	expectFile(t, ffs.Fs, "/big.bin", pattern(limit+1))
	ffs.onlyHandle(t, "/big.bin").expectFailure(t, nil)
}

func TestTransferHookOrder(t *testing.T) {
	t.Parallel()
	order := &callOrder{}
	named := func(name string) TransferHook {
		return func(_ *Transfer, next CopyFunc) CopyFunc {
			return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
				order.add(name + ">")
				n, err := next(ctx, dst, src)
				order.add("<" + name)
				return n, err
			}
		}
	}
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.TransferHooks = []TransferHook{named("a"), named("b"), named("c")}
	}))
	c := ts.login(t)
	c.stor("f", []byte("x"))
	if got := order.String(); got != "a>,b>,c>,<c,<b,<a" {
		t.Fatalf("hooks ran as %q, want the first outermost", got)
	}
}
