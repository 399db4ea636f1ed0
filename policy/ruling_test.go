package policy

import (
	"context"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// valuedSession is a fakeSession that keeps session values, as the
// engine's sessions do.
type valuedSession struct {
	fakeSession
	vs *engine.SessionValues
}

func (v valuedSession) SessionValues() *engine.SessionValues { return v.vs }

// TestTakeRuling: the command hook records the policy's decision and the
// rule its "rule" annotation names; TakeRuling hands it over once and
// only for the same verb; a verb the policy does not subscribe to has no
// ruling, and a ruling of the transfer slot survives an immediate
// command (STAT) in between.
func TestTakeRuling(t *testing.T) {
	t.Parallel()
	rt, _ := newTestRuntime(t, Config{})
	resp := abi.AppendResponse(nil, &abi.Response{Action: abi.ActionDeny, Code: 550, Message: "no", Annotations: []string{"x=1", "rule=no-deletes"}})
	rt.Install("t", mustCompile(t, rt, testmod.Respond(resp, "DELE,STOR,STAT")), Settings{})
	h := NewHooks(rt, func(engine.ClientContext) string { return "t" })
	cc := valuedSession{fakeSession: fakeSession{user: "alice"}, vs: &engine.SessionValues{}}

	run := func(verb string) {
		t.Helper()
		if err := h.Command(context.Background(), &engine.Command{Session: cc, Verb: verb, Paths: []string{"/a"}}); err == nil && verb != "MKD" {
			t.Fatalf("%s: not denied", verb)
		}
	}
	run("DELE")
	if _, ok := TakeRuling(cc, "RMD"); ok {
		t.Fatal("a ruling for another verb")
	}
	run("DELE")
	r, ok := TakeRuling(cc, "DELE")
	if !ok || r != (Ruling{Verb: "DELE", Decision: "deny", Rule: "no-deletes"}) {
		t.Fatalf("DELE: %+v %v", r, ok)
	}
	if r, ok := TakeRuling(cc, "DELE"); ok {
		t.Fatalf("taken twice: %+v", r)
	}
	run("MKD") // not subscribed: allowed without a call
	if r, ok := TakeRuling(cc, "MKD"); ok {
		t.Fatalf("MKD, not subscribed: %+v", r)
	}
	run("STOR")
	run("STAT")
	if r, ok := TakeRuling(cc, "STAT"); !ok || r.Decision != "deny" {
		t.Fatalf("STAT: %+v %v", r, ok)
	}
	if r, ok := TakeRuling(cc, "STOR"); !ok || r.Rule != "no-deletes" {
		t.Fatalf("STOR after STAT: %+v %v", r, ok)
	}
}
