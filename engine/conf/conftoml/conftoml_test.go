package conftoml

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

type user struct {
	Name  string   `toml:"name"`
	Allow []string `toml:"allow"`
}

type Inner struct {
	Mode string `toml:"mode"`
}

type doc struct {
	ID    string        `toml:"id"`
	Wait  time.Duration `toml:"wait"`
	Quota struct {
		N int64 `toml:"bytes"`
	} `toml:"quota"`
	Users   []user           `toml:"users"`
	ByName  map[string]Inner `toml:"by_name"`
	Skipped string           `toml:"-"`
	Inner
}

// TestDecode: every unknown key and wrong type is reported on its line,
// array-of-tables entries by index; good keys are decoded and bad ones
// keep their defaults; a bad key's later checks are dropped.
func TestDecode(t *testing.T) {
	src := `id = 5
wait = 30
mode = "x"
[quota]
bytes = "lots"
[[users]]
name = "a"
[[users]]
name = "b"
alow = ["x"]
[by_name.k]
mode = 1
`
	var errs conf.Errors
	sink := &conf.Sink{File: "f", Lines: conf.ScanKeyLines(src), Errs: &errs}
	d := doc{ID: "default", Wait: time.Second}
	if !Decode(sink, src, &d) {
		t.Fatal("not TOML?")
	}
	want := []string{
		"f:1: id: want a string",
		"f:2: wait: want a duration in quotes, like \"30s\" or \"15m\"",
		"f:5: quota.bytes: want an integer",
		"f:10: users[1].alow: unknown key (check its spelling and the table it is in)",
		"f:12: by_name.k.mode: want a string",
	}
	if got := strings.Split(errs.Error(), "\n"); !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.ID != "default" || d.Wait != time.Second || d.Mode != "x" || len(d.Users) != 2 || d.Users[1].Name != "b" {
		t.Fatalf("decoded %+v", d)
	}
	n := len(errs)
	sink.Add("id", "a follow-on error")
	sink.Add("quota", "another")
	sink.Add("users[1].name", "an error of a good key")
	if len(errs) != n+1 {
		t.Fatalf("follow-on errors were kept: %s", errs.Error())
	}
}

// TestKeys lists the schema's keys, with maps and arrays of tables.
func TestKeys(t *testing.T) {
	got := Keys(reflect.TypeFor[doc]())
	want := []string{"id", "wait", "quota.bytes", "users[].name", "users[].allow", "by_name.*.mode", "mode"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}
