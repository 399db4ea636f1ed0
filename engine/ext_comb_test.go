package engine

import (
	"errors"
	"reflect"
	"testing"

	"github.com/spf13/afero"
)

func withCOMB() serverOption { return withSettings(func(s *Settings) { s.EnableCOMB = true }) }

func TestExtCOMBJoinsThePartsAndDeletesThem(t *testing.T) {
	fs := afero.NewMemMapFs()
	p1, p2, p3 := extContent(70_000), []byte("second part"), extContent(3_000_000)
	extWrite(t, fs, "/up/part 1", p1)
	extWrite(t, fs, "/up/part2", p2)
	extWrite(t, fs, "/up/part3", p3)
	hooks := &extHookPaths{}
	ts := newTestServer(t, withFs(fs), withCOMB(), withExtHook(hooks))
	c := ts.login(t)
	if !extHasFeature(t, c, "COMB") {
		t.Fatalf("FEAT lacks COMB: %q", extFeatures(t, c))
	}
	c.expect("CWD /up", 250)
	c.expect(`COMB "whole file" "part 1" "part2" part3`, 200)
	want := append(append(append([]byte{}, p1...), p2...), p3...)
	if got := extRead(t, fs, "/up/whole file"); !reflect.DeepEqual(got, want) {
		t.Fatalf("combined %d bytes, want %d", len(got), len(want))
	}
	for _, p := range []string{"/up/part 1", "/up/part2", "/up/part3"} {
		extMissing(t, fs, p)
	}
	if got := hooks.get("COMB"); !reflect.DeepEqual(got, []string{"/up/whole file", "/up/part 1", "/up/part2", "/up/part3"}) {
		t.Fatalf("hook saw Paths %q", got)
	}
}

func TestExtCOMBAppendsToAnExistingTarget(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/t", []byte("head-"))
	extWrite(t, fs, "/a", []byte("a"))
	extWrite(t, fs, "/b", []byte("b"))
	ts := newTestServer(t, withFs(fs), withCOMB())
	c := ts.login(t)
	c.expect("COMB t a b", 200)
	if got := string(extRead(t, fs, "/t")); got != "head-ab" {
		t.Fatalf("target holds %q", got)
	}
}

func TestExtCOMBFailuresChangeNothing(t *testing.T) {
	fs := afero.NewMemMapFs()
	extWrite(t, fs, "/t", []byte("keep"))
	extWrite(t, fs, "/a", []byte("a"))
	extWrite(t, fs, "/dir/x", []byte("x"))
	ts := newTestServer(t, withFs(fs), withCOMB())
	c := ts.login(t)
	c.expect("COMB t a missing", 550)
	c.expect("COMB new a missing", 550)
	c.expect("COMB t a dir", 550)
	c.expect("COMB t t", 550)
	c.expect("COMB dir a", 550)
	c.expect("COMB t", 501)
	c.expect(`COMB "t a`, 501)
	if got := string(extRead(t, fs, "/t")); got != "keep" {
		t.Fatalf("target holds %q after failures", got)
	}
	extMissing(t, fs, "/new")
	extRead(t, fs, "/a")
}

func TestExtCOMBDisabledByDefault(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t)
	c.expect("COMB t a", 502)
	if extHasFeature(t, c, "COMB") {
		t.Fatal("FEAT lists COMB although it is disabled")
	}
}

// extSpaceFs adds ClientDriverExtensionAvailableSpace.
type extSpaceFs struct {
	afero.Fs
	asked *string
}

func (fs extSpaceFs) GetAvailableSpace(dir string) (int64, error) {
	*fs.asked = dir
	if dir == "/full" {
		return 0, errors.New("quota lookup failed")
	}
	return 123456789, nil
}

func TestExtAVBL(t *testing.T) {
	var asked string
	inner := afero.NewMemMapFs()
	if err := inner.MkdirAll("/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, withFs(extSpaceFs{Fs: inner, asked: &asked}))
	c := ts.dial(t)
	if extHasFeature(t, c, "AVBL") {
		t.Fatal("FEAT lists AVBL before login")
	}
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if !extHasFeature(t, c, "AVBL") {
		t.Fatalf("FEAT lacks AVBL: %q", extFeatures(t, c))
	}
	c.expect("CWD dir", 250)
	extExpectText(t, c, "AVBL", 213, "123456789")
	if asked != "/dir" {
		t.Fatalf("asked about %q, want the working directory", asked)
	}
	extExpectText(t, c, "AVBL /", 213, "123456789")
	c.expect("AVBL /full", 550)
}

func TestExtAVBLWithoutDriverSupport(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t)
	c.expect("AVBL", 502)
	if extHasFeature(t, c, "AVBL") {
		t.Fatal("FEAT lists AVBL for a driver without it")
	}
}

// extAllocFs adds ClientDriverExtensionAllocate.
type extAllocFs struct {
	afero.Fs
	got *int
}

func (fs extAllocFs) AllocateSpace(size int) error {
	*fs.got = size
	if size > 1000 {
		return errors.New("too big")
	}
	return nil
}

func TestExtALLO(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t)
	c.expect("ALLO 100", 202)

	var got int
	ts2 := newTestServer(t, withFs(extAllocFs{Fs: afero.NewMemMapFs(), got: &got}))
	c2 := ts2.login(t)
	c2.expect("ALLO 500", 200)
	if got != 500 {
		t.Fatalf("AllocateSpace(%d), want 500", got)
	}
	c2.expect("ALLO 5000 R 10", 552)
	c2.expect("ALLO x", 501)
}
