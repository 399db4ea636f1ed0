package gateway

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Override sets each of keys, server-file keys as Keys lists them (e.g.
// "log.level"), in c to its value in from: how `serve --config` puts the
// flags given with it over the file's values. A key Keys does not list (a
// table) or lists inside a map (limits.users.*.…) is an error and leaves c as it was. A list
// value is shared with from, not copied. Validate c afterwards: an
// override may break a pairing.
func (c *Config) Override(from *Config, keys []string) error {
	dst, src := reflect.ValueOf(c).Elem(), reflect.ValueOf(from).Elem()
	type pair struct{ d, s reflect.Value }
	pairs := make([]pair, 0, len(keys))
	known := Keys()
	for _, key := range keys {
		d, s, ok := field(dst, src, key)
		if !ok || !slices.Contains(known, key) {
			return fmt.Errorf("override: %q is not a key of the server file", key)
		}
		pairs = append(pairs, pair{d, s})
	}
	for _, p := range pairs {
		p.d.Set(p.s)
	}
	return nil
}

// field finds key's field in both d and s, walking the toml tags (and
// tagless embedded structs) as Keys does.
func field(d, s reflect.Value, key string) (reflect.Value, reflect.Value, bool) {
	for part := range strings.SplitSeq(key, ".") {
		if d.Kind() != reflect.Struct {
			return d, s, false
		}
		i, ok := fieldIndex(d.Type(), part)
		if !ok {
			return d, s, false
		}
		d, s = d.FieldByIndex(i), s.FieldByIndex(i)
	}
	return d, s, true
}

// fieldIndex returns the index path of the field of t whose toml name is
// name.
func fieldIndex(t reflect.Type, name string) ([]int, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			if sub, ok := fieldIndex(f.Type, name); ok {
				return append([]int{i}, sub...), true
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return []int{i}, true
		}
	}
	return nil, false
}
