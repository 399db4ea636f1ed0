package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestDecisionDescribe pins the line `ftpgate policy check` prints for
// each kind of decision.
func TestDecisionDescribe(t *testing.T) {
	stor := &Module{subs: map[string]bool{"STOR": true}}
	every := &Module{}
	for _, tc := range []struct {
		name string
		d    Decision
		m    *Module
		verb string
		want string
	}{
		{"deny", Decision{Action: Deny, Code: 550, Message: "No.", Called: true}, stor, "STOR", "deny 550 No."},
		{"rewrite", Decision{Action: Rewrite, Path: "/in/a", Called: true}, stor, "STOR", "rewrite /in/a"},
		{"allow", Decision{Called: true}, stor, "STOR", "allow"},
		{"not subscribed", Decision{}, stor, "RETR", "allow (not subscribed to RETR; the module is not called)"},
		{"every verb, not called", Decision{}, every, "RETR", "allow"},
		{"on_error allow", Decision{Err: errors.New("trap")}, stor, "RETR", "allow"},
		{"no module", Decision{}, nil, "RETR", "allow"},
		{"cap and annotations", Decision{Called: true, HasMax: true, MaxBytes: 10, Annotations: []string{"a=1", "b=2"}}, stor, "STOR",
			"allow (uploads capped at 10 bytes) [a=1] [b=2]"},
	} {
		if got := tc.d.Describe(tc.m, tc.verb); got != tc.want {
			t.Errorf("%s: Describe = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestModuleInfoText pins `ftpgate policy inspect`'s text, "*" spelled
// out.
func TestModuleInfoText(t *testing.T) {
	i := (&Module{Hash: "ab", Size: 7, ABI: 1, HasInit: true, Imports: []string{"ftpp.log"}, Exports: []string{"memory", "ftpp_check"}}).Info()
	want := "file:          p.wasm\nsha256:        ab\nsize:          7 bytes\nabi:           v1\nsubscriptions: * (every verb)\nftpp_init:     true\nimports:       ftpp.log\nexports:       memory ftpp_check\n"
	if got := i.Text("p.wasm"); got != want {
		t.Errorf("Text =\n%s\nwant\n%s", got, want)
	}
	i.Subscriptions = []string{"STOR", "RETR"}
	if got := i.Text("p.wasm"); !strings.Contains(got, "subscriptions: STOR,RETR\n") {
		t.Errorf("Text = %q, want the verbs joined", got)
	}
}
