// Package flagkey binds command-line flags onto a config's fields and
// records, with each flag, the server-file key it stands for (or why it
// has none), so that a flag, its field and its key are written once.
package flagkey

import (
	"encoding"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// NoKey starts the entry of Binder.Keys for a flag without a server-file
// key; the reason follows it.
const NoKey = "-: "

// Binder registers flags on a flag.FlagSet and keeps their keys.
type Binder struct {
	fs   *flag.FlagSet
	keys map[string]string
}

// New returns a Binder that registers flags on fs.
func New(fs *flag.FlagSet) *Binder { return &Binder{fs: fs, keys: map[string]string{}} }

// Key registers flag name onto dst, standing for the server-file key.
// dst is a func(string) error (flag.Func), a flag.Value, an
// encoding.TextUnmarshaler that is also a TextMarshaler (flag.TextVar),
// or a *string, *bool, *int, *uint, *float64 or *time.Duration; its
// current value is the flag's default. Another type panics: that is a
// mistake in the program, found by any test that registers the flags.
func (b *Binder) Key(name, key string, dst any, usage string) {
	b.bind(name, dst, usage)
	b.keys[name] = key
}

// None registers flag name onto dst (as Key) for a flag without a
// server-file key, with the reason.
func (b *Binder) None(name, reason string, dst any, usage string) {
	b.bind(name, dst, usage)
	b.keys[name] = NoKey + reason
}

// Keys maps every flag registered to its key, or to NoKey and the
// reason. It is the Binder's own map: callers only read it.
func (b *Binder) Keys() map[string]string { return b.keys }

func (b *Binder) bind(name string, dst any, usage string) {
	switch p := dst.(type) {
	case func(string) error:
		b.fs.Func(name, usage, p)
	case flag.Value:
		b.fs.Var(p, name, usage)
	case encoding.TextUnmarshaler:
		m, ok := dst.(encoding.TextMarshaler)
		if !ok {
			panic(fmt.Sprintf("flagkey: --%s: %T cannot marshal its default", name, dst))
		}
		b.fs.TextVar(p, name, m, usage)
	case *string:
		b.fs.StringVar(p, name, *p, usage)
	case *bool:
		b.fs.BoolVar(p, name, *p, usage)
	case *int:
		b.fs.IntVar(p, name, *p, usage)
	case *uint:
		b.fs.UintVar(p, name, *p, usage)
	case *float64:
		b.fs.Float64Var(p, name, *p, usage)
	case *time.Duration:
		b.fs.DurationVar(p, name, *p, usage)
	default:
		panic(fmt.Sprintf("flagkey: --%s: unsupported type %T", name, dst))
	}
}

// Seconds is a conf.Duration flag in whole seconds (a plain number).
type Seconds conf.Duration

// String writes the duration in whole seconds.
func (s *Seconds) String() string {
	return strconv.FormatInt(int64(time.Duration(*s)/time.Second), 10)
}

// Set reads a whole number of seconds.
func (s *Seconds) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return errors.New("want a number of seconds")
	}
	*s = Seconds(time.Duration(n) * time.Second)
	return nil
}

// SizeOrNoLimit is a conf.Size flag that also takes -1 for "no limit".
type SizeOrNoLimit conf.Size

// UnmarshalText reads -1 or conf.Size's grammar ("64M", "1G").
func (s *SizeOrNoLimit) UnmarshalText(b []byte) error {
	if strings.TrimSpace(string(b)) == "-1" {
		*s = -1
		return nil
	}
	return (*conf.Size)(s).UnmarshalText(b)
}

// MarshalText writes the size as conf.Size does, -1 as "-1".
func (s SizeOrNoLimit) MarshalText() ([]byte, error) { return conf.Size(s).MarshalText() }
