package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// stepTimeout bounds every browser step: an upper bound for a loaded
// machine, never a wait.
const stepTimeout = 60 * time.Second

// needTool returns the path of a program the browser tests need: they
// fail without it under FTPGATE_INTEGRATION=1 (CI installs it) and are
// skipped otherwise.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("FTPGATE_INTEGRATION") == "1" {
			t.Fatalf("%s is missing (apt-get install %s)", name, name)
		}
		t.Skipf("%s is missing; FTPGATE_INTEGRATION=1 makes this a failure", name)
	}
	return p
}

// artifacts is where the screenshots go: $FTPGATE_ARTIFACTS, else a
// temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("FTPGATE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tab is one browser context (its own cookies) in the shared browser.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // screenshot directory
}

// newTab opens a browser context of its own in browser.
func newTab(t *testing.T, browser context.Context, base, shots string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab; it has no timeout of its own (one
	// would stop the tab), so it is bounded by the browser's.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: base, shot: shots}
}

// do runs steps within stepTimeout.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page (through the
// DevTools protocol; the page itself runs no script).
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
}

func (b *tab) path() string {
	b.t.Helper()
	return eval[string](b, "location.pathname")
}

// tabTo presses Tab until the element with id has the focus (at most 60
// presses).
func (b *tab) tabTo(id string) {
	b.t.Helper()
	for range 60 {
		if eval[string](b, "document.activeElement ? document.activeElement.id : ''") == id {
			return
		}
		b.do("Tab", chromedp.KeyEvent(kb.Tab))
	}
	b.t.Fatalf("Tab never reached #%s on %s", id, b.path())
}

// markPage marks the document shown now, so that waitNext can tell when
// the next one replaced it.
func (b *tab) markPage() {
	b.t.Helper()
	eval[bool](b, "document.body.setAttribute('data-old', '1'), true")
}

// waitNext waits until the marked document is replaced and the next one
// shows then.
func (b *tab) waitNext(then string) {
	b.t.Helper()
	b.do("the next page", chromedp.WaitNotPresent(chromedp.CSS("body[data-old]")), chromedp.WaitVisible(chromedp.CSS(then)))
}

// enter presses Enter on the focused element and waits for the next
// page to show then.
func (b *tab) enter(then string) {
	b.t.Helper()
	b.markPage()
	b.do("Enter", chromedp.KeyEvent(kb.Enter))
	b.waitNext(then)
}

// widths checks path at 1280 and 400 pixels: nothing wider than the
// window (tables scroll in their own box), and a screenshot of each.
func (b *tab) widths(name, path string) {
	b.t.Helper()
	for _, w := range []int64{1280, 400} {
		b.do("viewport", chromedp.EmulateViewport(w, 900))
		b.open(path)
		if !eval[bool](b, "document.documentElement.scrollWidth <= window.innerWidth + 1") {
			b.t.Errorf("%s at %d px: the page is %v px wide", path, w, eval[float64](b, "document.documentElement.scrollWidth"))
		}
		b.screenshot(name + "-" + map[int64]string{1280: "1280", 400: "400"}[w])
	}
	b.do("viewport", chromedp.EmulateViewport(1280, 900))
}

func (b *tab) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// login logs in with the keyboard alone: Tab to the fields, type, Enter.
func (b *tab) login(tenant, token string) {
	b.t.Helper()
	b.open("/console/login")
	b.screenshot("login")
	if tenant != "" {
		b.tabTo("tenant")
		b.do("type the tenant", chromedp.KeyEvent(tenant))
	}
	b.tabTo("token")
	b.do("type the token", chromedp.KeyEvent(token))
	b.enter("main h1")
}

// TestBrowser drives Debian's chromium through the console: the
// operator and a tenant admin log in with the keyboard, every page is
// drawn at 1280 and 400 pixels (screenshots in $FTPGATE_ARTIFACTS), the
// tenant admin ends a live session a real FTP client holds (the client
// reads 421), cannot open another tenant's page, uploads a policy through
// the page (dry run, then install) that then refuses curl's DELE, and the
// operator lifts a ban.
func TestBrowser(t *testing.T) {
	chromium := needTool(t, "chromium")
	curl := needTool(t, "curl")
	f, _ := run(t, withAcmeCert(t, standardFiles(t)), false)
	shots := artifacts(t)
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	// A ban to lift: three failed logins from 127.0.0.9.
	for range 3 {
		c, _, _ := enginetest.Dial(t, f.addr, "127.0.0.9")
		c.Expect("USER mallory", 331)
		c.Expect("PASS wrong", 530)
		_ = c.NetConn().Close()
	}
	alice := enginetest.Login(t, f.addr, "127.0.0.2", "alice", "secret")
	if err := alice.Stor("/hello.txt", strings.NewReader("hello from alice\n")); err != nil {
		t.Fatal(err)
	}
	bob := enginetest.Login(t, f.addr, "127.0.0.3", "bob@globex", "secret")
	defer bob.Quit()

	t.Run("tenant", func(t *testing.T) {
		b := newTab(t, browser, f.base, shots)
		b.login("acme", acmeToken)
		if p := b.path(); p != "/console/t/acme/" {
			t.Fatalf("after the tenant's login: %s: %q", p, b.text("main"))
		}
		b.widths("tenant-acme", "/console/t/acme/")
		b.widths("tenant-sessions", "/console/t/acme/sessions")
		b.widths("tenant-policy", "/console/t/acme/policy")
		b.widths("tenant-audit", "/console/t/acme/audit?verb=STOR")
		if s := b.text("main"); !strings.Contains(s, "hello.txt") || strings.Contains(s, "bob") {
			t.Fatalf("acme's audit page: %q", s)
		}

		// Another tenant's page is not there for acme's admin.
		b.open("/console/t/globex/sessions")
		if s := b.text("main"); !strings.Contains(s, "No such page") || strings.Contains(s, "bob") {
			t.Fatalf("globex's page for acme's admin: %q", s)
		}
		b.screenshot("tenant-other-tenant")

		// End alice's session with the keyboard: the client reads 421.
		list, _, _ := f.g.Sessions().List(t.Context(), sessionsQuery("acme"))
		if len(list) != 1 {
			t.Fatalf("acme's sessions: %+v", list)
		}
		b.open("/console/t/acme/sessions")
		if s := b.text("main"); !strings.Contains(s, "alice") || !strings.Contains(s, "127.0.0.2") {
			t.Fatalf("the sessions page lacks alice's session: %q", s)
		}
		b.tabTo("end-" + list[0].ID)
		b.enter(".flash")
		b.screenshot("tenant-session-ended")
		if _, err := alice.CurrentDir(); ftpCode(err) != 421 {
			t.Fatalf("alice's next command after the end: %v", err)
		}

		// Upload a policy through the page: the dry run first, then the
		// install; curl's DELE is then refused with the policy's 550.
		wasm := filepath.Join(t.TempDir(), "example.wasm")
		if err := os.WriteFile(wasm, testmod.Example(), 0o600); err != nil {
			t.Fatal(err)
		}
		b.open("/console/t/acme/policy")
		b.do("fill the upload form",
			chromedp.SetUploadFiles(chromedp.ID("module"), []string{wasm}),
			chromedp.SetValue(chromedp.ID("verb"), "DELE"),
			chromedp.SetValue(chromedp.ID("spath"), "/hello.txt"))
		b.markPage()
		b.do("check", chromedp.Click(chromedp.ID("check")))
		b.waitNext("#check-result")
		if a := b.text("#check-action"); a != "deny" {
			t.Fatalf("dry run: %q in %q", a, b.text("#check-result"))
		}
		b.screenshot("tenant-policy-checked")
		if _, _, ok := f.g.PolicyRuntime().Installed("acme"); ok {
			t.Fatal("the dry run installed the module")
		}
		b.tabTo("install")
		b.enter(".flash")
		if s := b.text(".flash"); !strings.Contains(s, "installed") {
			t.Fatalf("after install: %q", s)
		}
		b.screenshot("tenant-policy-installed")
		out, err := exec.Command(curl, "-sS", "-v", "--max-time", "30", "--user", "alice:secret",
			"ftp://"+f.addr+"/", "-Q", "DELE /hello.txt").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "< 550") {
			t.Fatalf("curl's DELE under the policy: %v\n%s", err, out)
		}
	})

	t.Run("operator", func(t *testing.T) {
		b := newTab(t, browser, f.base, shots)
		b.login("", opToken)
		if p := b.path(); p != "/console/overview" {
			t.Fatalf("after the operator's login: %s", p)
		}
		if s := b.text("main"); !strings.Contains(s, f.addr) || !strings.Contains(s, "Transfer throughput") {
			t.Fatalf("overview: %q", s)
		}
		if n := eval[int](b, "document.querySelectorAll('svg.chart').length"); n != 2 {
			t.Fatalf("overview charts: %d", n)
		}
		for _, p := range []struct{ name, path string }{
			{"overview", "/console/overview"}, {"tenants", "/console/tenants"}, {"sessions", "/console/sessions"},
			{"bans", "/console/bans"}, {"audit", "/console/audit"}, {"policy-acme", "/console/t/acme/policy"},
		} {
			b.widths("operator-"+p.name, p.path)
		}
		b.open("/console/tenants")
		if s := b.text("#t-acme + p + dl + h3 + ul"); s != acmeCertShown {
			t.Fatalf("acme's certificates on the tenants page: %q, want %q", s, acmeCertShown)
		}
		// Lift the ban with the keyboard.
		b.open("/console/bans")
		if s := b.text("main"); !strings.Contains(s, "127.0.0.9") {
			t.Fatalf("bans page: %q", s)
		}
		b.tabTo("lift-127.0.0.9/32")
		b.enter(".flash")
		b.screenshot("operator-ban-lifted")
		if _, total := f.g.Limiter().Bans(10); total != 0 {
			t.Fatal("the ban stays after the console lifted it")
		}
		c := enginetest.Login(t, f.addr, "127.0.0.9", "alice", "secret")
		_ = c.Quit()
	})
}
