// Package conftoml decodes TOML configuration files strictly, one key at
// a time, onto a struct holding the defaults: every unknown key and every
// value of the wrong type is reported as a conf.Error with its line, in one
// run, and a key that failed keeps its default and is recorded in the
// Sink's Bad set, so that later checks of it are dropped (no follow-on
// errors). The gateway's server file and tenancy's tenant files share it.
package conftoml

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// decoder fills a struct from a TOML document one key at a time, so that
// every unknown key and every value of the wrong type is reported with
// its line, and a bad value leaves the field at its default without
// stopping the others. bad records the keys that failed, whose sections
// are then not validated again (no follow-on errors).
type decoder struct {
	md   toml.MetaData
	sink *conf.Sink
	bad  map[string]bool
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// Decode decodes data onto v (a pointer to a struct holding its
// defaults), reporting problems to sink and the keys that failed in
// sink.Bad. It reports whether the document was TOML at all; when not,
// nothing was decoded. Struct fields are matched by their toml tags;
// embedded structs without a tag are flattened; structs that implement
// encoding.TextUnmarshaler are values, not tables; slices and string-keyed
// maps of structs are walked entry by entry. A time.Duration must be a
// quoted string: the TOML library would take an integer as nanoseconds.
// Decode holds the whole document and one error per bad key in memory:
// callers bound what they read (the gateway and tenancy read at most 4 MiB
// of a file).
func Decode(sink *conf.Sink, data string, v any) (ok bool) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(data, &top)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			*sink.Errs = append(*sink.Errs, &conf.Error{File: sink.File, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message})
		} else {
			line, msg := splitTOMLError(err)
			*sink.Errs = append(*sink.Errs, &conf.Error{File: sink.File, Line: line, Msg: msg})
		}
		return false
	}
	if sink.Bad == nil {
		sink.Bad = map[string]bool{}
	}
	d := &decoder{md: md, sink: sink, bad: sink.Bad}
	before := len(*sink.Errs)
	d.table(top, reflect.ValueOf(v).Elem(), "")
	slices.SortStableFunc((*sink.Errs)[before:], func(a, b *conf.Error) int { return a.Line - b.Line })
	return true
}

// isTable reports whether values of t are TOML tables the decoder walks
// key by key: structs that do not parse themselves from text.
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler) && t != reflect.TypeFor[time.Time]()
}

// fields maps the toml tags of struct type t to field index paths,
// promoting the fields of embedded structs that have no tag.
func fields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && tag == "" && isTable(f.Type) {
			for k, idx := range fields(f.Type) {
				if _, shadowed := out[k]; !shadowed {
					out[k] = append([]int{i}, idx...)
				}
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out[tag] = []int{i}
	}
	return out
}

// table decodes the keys of one table onto the struct rv, in the order of
// their lines.
func (d *decoder) table(prims map[string]toml.Primitive, rv reflect.Value, prefix string) {
	fs := fields(rv.Type())
	keys := make([]string, 0, len(prims))
	for k := range prims {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if la, lb := d.sink.Lines.Line(join(prefix, a)), d.sink.Lines.Line(join(prefix, b)); la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		key := join(prefix, k)
		idx, ok := fs[k]
		if !ok {
			d.fail(key, 0, "unknown key (check its spelling and the table it is in)")
			continue
		}
		d.value(prims[k], rv.FieldByIndex(idx), key)
	}
}

// value decodes one key onto fv: a table key by key, a map of tables
// entry by entry, anything else at once.
func (d *decoder) value(p toml.Primitive, fv reflect.Value, key string) {
	t := fv.Type()
	if t.Kind() == reflect.Slice && isTable(t.Elem()) {
		var raw any
		_ = d.md.PrimitiveDecode(p, &raw)
		var subs []map[string]toml.Primitive
		_, rawArray := raw.([]map[string]any)
		if err := d.md.PrimitiveDecode(p, &subs); err != nil || !rawArray {
			d.fail(key, 0, "want an array of tables ([[%s]])", key)
			return
		}
		out := reflect.MakeSlice(t, len(subs), len(subs))
		for i, sub := range subs {
			d.table(sub, out.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		fv.Set(out)
		return
	}
	if isTable(t) || (t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && isTable(t.Elem())) {
		var raw any
		_ = d.md.PrimitiveDecode(p, &raw)
		var sub map[string]toml.Primitive
		_, rawTable := raw.(map[string]any)
		if err := d.md.PrimitiveDecode(p, &sub); err != nil || !rawTable {
			d.fail(key, 0, "want a table ([%s] or %s = { ... })", key, key)
			return
		}
		if isTable(t) {
			d.table(sub, fv, key)
			return
		}
		m := reflect.MakeMapWithSize(t, len(sub))
		for name, ep := range sub {
			ev := reflect.New(t.Elem()).Elem()
			d.value(ep, ev, join(key, name))
			m.SetMapIndex(reflect.ValueOf(name).Convert(t.Key()), ev)
		}
		fv.Set(m)
		return
	}
	if t == durationType {
		// The library takes an integer as nanoseconds: "idle = 5" would
		// be 5ns, not what anyone means.
		var raw any
		if err := d.md.PrimitiveDecode(p, &raw); err == nil {
			if _, isString := raw.(string); !isString {
				d.fail(key, 0, "want %s", describe(t))
				return
			}
		}
	}
	tmp := reflect.New(t)
	if err := d.md.PrimitiveDecode(p, tmp.Interface()); err != nil {
		line, msg := splitTOMLError(err)
		if strings.HasPrefix(msg, "incompatible types") || t == durationType {
			msg = "want " + describe(t)
		}
		d.fail(key, line, "%s", msg)
		return
	}
	fv.Set(tmp.Elem())
}

// fail records a problem with key and marks it bad; line 0 looks the key
// up.
func (d *decoder) fail(key string, line int, format string, args ...any) {
	d.bad[key] = true
	if line == 0 {
		line = d.sink.Lines.Line(key)
	}
	*d.sink.Errs = append(*d.sink.Errs, &conf.Error{File: d.sink.File, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// describe says what a value of t is written as.
func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration in quotes, like "30s" or "15m"`
	case t.Kind() == reflect.Pointer:
		return describe(t.Elem())
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct:
		return "a table"
	}
	return t.String()
}

var tomlErrRE = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "[^"]*"\))?: `)

// splitTOMLError returns the line and the message of one of the TOML
// library's errors.
func splitTOMLError(err error) (line int, msg string) {
	s := err.Error()
	if m := tomlErrRE.FindStringSubmatch(s); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, s[len(m[0]):]
	}
	return 0, strings.TrimPrefix(s, "toml: ")
}

// join joins a dotted key and a name.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Keys returns every dotted key of the schema of struct type t, in the
// order of its fields; a map of tables shows its entries' keys under "*"
// ("limits.tenants.*.max_sessions"), an array of tables under "[]".
func Keys(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if f.Anonymous && tag == "" && isTable(f.Type) {
				walk(f.Type, prefix)
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			key := join(prefix, tag)
			switch ft := f.Type; {
			case isTable(ft):
				walk(ft, key)
			case ft.Kind() == reflect.Map && isTable(ft.Elem()):
				walk(ft.Elem(), key+".*")
			case ft.Kind() == reflect.Slice && isTable(ft.Elem()):
				walk(ft.Elem(), key+"[]")
			default:
				out = append(out, key)
			}
		}
	}
	walk(t, "")
	return out
}
