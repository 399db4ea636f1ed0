package engine

import (
	"context"
	"errors"
	"testing"
)

// TestRefusal421ClosesSession: a 421 from a command hook or from AuthUser
// is the last reply; the session ends, as RFC 959 defines 421.
func TestRefusal421ClosesSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, onServer(func(srv *Server) {
		srv.CommandHooks = []CommandHook{func(_ context.Context, c *Command) error {
			if c.Verb == "NOOP" {
				return Refuse(421, "Too many commands.")
			}
			return nil
		}}
		srv.Driver = refusing421Driver{srv.Driver.(*testDriver)}
	}))
	c := ts.login(t)
	c.send("NOOP")
	c.expectReplyThenClose(421)

	c = ts.dial(t)
	c.expect("USER banned", 331)
	c.send("PASS x")
	c.expectReplyThenClose(421)

	c = ts.dial(t)
	c.expect("USER test", 331)
	c.expect("PASS wrong", 530) // other refusals leave the session open
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
}

// refusing421Driver refuses the user "banned" with 421.
type refusing421Driver struct{ *testDriver }

func (d refusing421Driver) AuthUser(cc ClientContext, user, pass string) (ClientDriver, error) {
	if user == "banned" {
		return nil, &ReplyError{Code: 421, Message: "Banned."}
	}
	if user == "test" && pass != "test" {
		return nil, errors.New("bad credentials")
	}
	return d.testDriver.AuthUser(cc, user, pass)
}
