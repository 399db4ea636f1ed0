package conf

import (
	"regexp"
	"strconv"
	"strings"
)

// KeyLines maps the dotted keys of a TOML document ("tls.cert",
// "users[1].permissions[0].allow") to the lines that set them, so that
// semantic errors can name a line. The TOML library keeps key positions
// private, so this is a small scan of its own: table headers, array-table
// headers (counted per parent) and `key =` lines. A line that only looks
// like a key inside a multi-line string may be mistaken for one; the
// result is then a wrong line number in a message, never a wrong decision.
type KeyLines map[string]int

// ScanKeyLines returns the key lines of a TOML document.
func ScanKeyLines(doc string) KeyLines {
	kl := KeyLines{}
	counts := map[string]int{} // array-table path → entries so far
	table := ""
	inMultiline := false
	for i, raw := range strings.Split(doc, "\n") {
		lineNo := i + 1
		line := strings.TrimSpace(raw)
		if strings.Count(line, `"""`)%2 == 1 || strings.Count(line, `'''`)%2 == 1 {
			inMultiline = !inMultiline
			if !inMultiline {
				continue
			}
		}
		if inMultiline && !strings.Contains(line, "=") {
			continue
		}
		switch {
		case strings.HasPrefix(line, "[["):
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			name := resolveArrayParents(strings.TrimSpace(line[2:end]), counts)
			n := counts[name]
			counts[name] = n + 1
			table = name + "[" + strconv.Itoa(n) + "]"
			kl.set(table, lineNo)
		case strings.HasPrefix(line, "["):
			end := strings.Index(line, "]")
			if end < 0 {
				continue
			}
			table = resolveArrayParents(strings.TrimSpace(line[1:end]), counts)
			kl.set(table, lineNo)
		default:
			eq := strings.Index(line, "=")
			if eq <= 0 || line[0] == '#' {
				continue
			}
			key := normalizeKey(line[:eq])
			if key == "" {
				continue
			}
			if table != "" {
				key = table + "." + key
			}
			kl.set(key, lineNo)
		}
	}
	return kl
}

// resolveArrayParents adds the current index to each parent of a table
// name that is an array of tables: "users.permissions" becomes
// "users[1].permissions" while the second [[users]] is open.
func resolveArrayParents(name string, counts map[string]int) string {
	parts := strings.Split(normalizeKey(name), ".")
	out := ""
	for i, p := range parts {
		if out != "" {
			out += "."
		}
		out += p
		if i < len(parts)-1 {
			if n, ok := counts[out]; ok && n > 0 {
				out += "[" + strconv.Itoa(n-1) + "]"
			}
		}
	}
	return out
}

// normalizeKey strips spaces and quotes around the parts of a dotted key.
func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		if p == "" {
			return ""
		}
		parts[i] = p
	}
	return strings.Join(parts, ".")
}

// set records the first line of a key.
func (kl KeyLines) set(key string, line int) {
	if _, ok := kl[key]; !ok {
		kl[key] = line
	}
}

// Line returns the line of key, else of its closest enclosing table that
// has one, else 0.
func (kl KeyLines) Line(key string) int {
	for key != "" {
		if n, ok := kl[key]; ok {
			return n
		}
		cut := strings.LastIndexAny(key, ".[")
		if cut < 0 {
			break
		}
		key = key[:cut]
	}
	return 0
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// Indexed returns the key as scanned, with array-of-tables indices, for a
// key given without them ("users.homedir" → "users[2].homedir"): the
// TOML library reports unknown keys without saying which entry they are
// in. The first occurrence wins; without one, key is returned as given.
func (kl KeyLines) Indexed(key string) string {
	best, bestLine := key, 0
	for k, line := range kl {
		if indexRE.ReplaceAllString(k, "") == key && (bestLine == 0 || line < bestLine) {
			best, bestLine = k, line
		}
	}
	return best
}
