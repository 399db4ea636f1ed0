package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// ccProbe is a command hook that records what the ClientContext said at
// each verb, and acts on it for a few test verbs.
type ccProbe struct {
	mu   sync.Mutex
	seen map[string]ccSnapshot
}

type ccSnapshot struct {
	lastCommand string
	dataChannel DataChannel
	version     string
	debug       bool
	path        string
	extra       any
}

func (p *ccProbe) hook(_ context.Context, c *Command) error {
	cc := c.Session
	switch c.Verb {
	case "XSETPATH":
		cc.SetPath("/chosen/../by/driver/..")
	case "XDEBUG":
		cc.SetDebug(!cc.Debug())
	case "XEXTRA":
		cc.SetExtra(c.Arg)
	case "XCLOSE":
		_ = cc.Close()
	}
	// The test verbs are unknown to the engine, which answers 502 after
	// the hooks ran.
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[c.Verb] = ccSnapshot{cc.GetLastCommand(), cc.GetLastDataChannel(), cc.GetClientVersion(), cc.Debug(), cc.Path(), cc.Extra()}
	return nil
}

func (p *ccProbe) at(t *testing.T, verb string) ccSnapshot {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.seen[verb]
	if !ok {
		t.Fatalf("the hook never saw %s", verb)
	}
	return s
}

func TestClientContextReportsAndChangesTheSession(t *testing.T) {
	t.Parallel()
	p := &ccProbe{seen: map[string]ccSnapshot{}}
	ts := newTestServer(t, onServer(func(srv *Server) { srv.CommandHooks = append(srv.CommandHooks, p.hook) }))
	ptMkdir(t, ts.driver.fs, "/by")
	c := ts.login(t)

	c.expect("NOOP", 200)
	if s := p.at(t, "NOOP"); s.lastCommand != "NOOP" || s.dataChannel != DataChannelNone || s.version != "" || s.debug || s.path != "/" || s.extra != nil {
		t.Fatalf("fresh session: %+v", s)
	}
	c.expect("CLNT lftp 4.9.2", 200)
	c.epsv()
	c.expect("SYST", 215)
	if s := p.at(t, "SYST"); s.version != "lftp 4.9.2" || s.dataChannel != DataChannelPassive {
		t.Fatalf("after CLNT and EPSV: %+v", s)
	}
	ln, addr := ptActive(t)
	defer ln.Close()
	c.expect("PORT "+addr, 200)
	c.expect("NOOP", 200)
	if s := p.at(t, "NOOP"); s.dataChannel != DataChannelActive {
		t.Fatalf("after PORT: %+v", s)
	}

	// A driver or hook may move the session (to a clean path), mark it
	// for debugging, and keep its own value on it.
	c.expect("XSETPATH", 502)
	if got := c.expect("PWD", 257); !strings.HasPrefix(got, `"/by" `) {
		t.Fatalf("PWD after SetPath: %q", got)
	}
	c.expect("XDEBUG", 502)
	c.expect("XEXTRA tenant-a", 502)
	c.expect("NOOP", 200)
	if s := p.at(t, "NOOP"); !s.debug || s.path != "/by" || s.extra != "tenant-a" {
		t.Fatalf("after SetPath, SetDebug and SetExtra: %+v", s)
	}

	// Close ends the session.
	c.send("XCLOSE")
	ptExpectClosed(t, c)
	ptAssertServing(t, ts)
}
