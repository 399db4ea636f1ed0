package tenancy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/conf/conftoml"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// maxConfigFileSize bounds what is read of one configuration file.
const maxConfigFileSize = 4 << 20

// The TOML shapes of the files. Strings stand for durations, CIDRs and
// rights so that every check, with its line, happens in one place.
type (
	rawTenant struct {
		ID           string   `toml:"id"`
		Hostnames    []string `toml:"hostnames"`
		Disabled     bool     `toml:"disabled"`
		Certificates []struct {
			Hostname string `toml:"hostname"`
			Cert     string `toml:"cert"`
			Key      string `toml:"key"`
		} `toml:"certificates"`
		Storage rawStorage `toml:"storage"`
		Quota   struct {
			Bytes int64 `toml:"bytes"`
			Files int64 `toml:"files"`
		} `toml:"quota"`
		Limits           ratelimit.Limits `toml:"limits"`
		AdminTokenSHA256 string           `toml:"admin_token_sha256"`
		Users            []struct {
			Name         string           `toml:"name"`
			Password     string           `toml:"password"`
			Home         string           `toml:"home"`
			AllowedCIDRs []string         `toml:"allowed_cidrs"`
			Disabled     bool             `toml:"disabled"`
			TLSRequired  bool             `toml:"tls_required"`
			Limits       ratelimit.Limits `toml:"limits"`
			Permissions  []struct {
				Prefix string   `toml:"prefix"`
				Allow  []string `toml:"allow"`
			} `toml:"permissions"`
		} `toml:"users"`
	}
)

// LoadTenants reads and validates every tenant file of srv.TenantsDir;
// file is the server file's absolute path, which srv was read from (the
// gateway owns that file's schema) and which set-wide errors name. The
// error, when not nil, is a conf.Errors listing every problem found.
func LoadTenants(file string, srv ServerConfig) (*Config, error) {
	var errs conf.Errors
	cfg := &Config{File: file, Server: srv}
	if srv.TenantsDir != "" {
		cfg.Tenants = loadTenantDir(srv.TenantsDir, file, &errs)
	}
	checkTenantSet(cfg, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// ReadConfigFile reads a configuration file of bounded size
// (maxConfigFileSize): a regular file, not a device or a pipe.
func ReadConfigFile(path string) ([]byte, error) { return readConfigFile(path) }

// readConfigFile reads a configuration file of bounded size.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > maxConfigFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxConfigFileSize)
	}
	return os.ReadFile(path)
}

// loadTenantDir parses every *.toml file of dir, in name order.
func loadTenantDir(dir, serverFile string, errs *conf.Errors) []*TenantConfig {
	names, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil {
		*errs = append(*errs, &conf.Error{File: serverFile, Key: "tenants.dir", Msg: err.Error()})
		return nil
	}
	sort.Strings(names)
	var out []*TenantConfig
	for _, name := range names {
		if name == serverFile {
			continue
		}
		data, err := readConfigFile(name)
		if err != nil {
			*errs = append(*errs, &conf.Error{File: name, Msg: err.Error()})
			continue
		}
		if t, ok := ParseTenantConfig(name, data, errs); ok {
			out = append(out, t)
		}
	}
	return out
}

// ParseTenantConfig parses one tenant file's content; file names it in
// errors and anchors relative paths. Problems are appended to errs; ok is
// false when there was any.
func ParseTenantConfig(file string, data []byte, errs *conf.Errors) (cfg *TenantConfig, ok bool) {
	before := len(*errs)
	sink := &conf.Sink{File: file, Lines: conf.ScanKeyLines(string(data)), Errs: errs}
	var raw rawTenant
	if !conftoml.Decode(sink, string(data), &raw) {
		return nil, false
	}
	dir := filepath.Dir(file)
	t := &TenantConfig{File: file, ID: raw.ID, Disabled: raw.Disabled, QuotaBytes: raw.Quota.Bytes, QuotaFiles: raw.Quota.Files, Limits: raw.Limits}
	if raw.AdminTokenSHA256 != "" {
		h, err := hex.DecodeString(raw.AdminTokenSHA256)
		if err != nil || len(h) != sha256.Size {
			sink.Add("admin_token_sha256", "want the 64 hex digits of the SHA-256 of the tenant's admin API token (printf %%s TOKEN | sha256sum)")
		} else {
			t.AdminTokenSHA256 = h
		}
	}
	if err := conf.ValidTenantID(t.ID); err != nil {
		sink.Add("id", "%v", err)
	}
	seenHost := map[string]bool{}
	for i, h := range raw.Hostnames {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		key := "hostnames"
		switch {
		case !validHostname(h):
			sink.Add(key, "entry %d %q is not a host name", i+1, raw.Hostnames[i])
		case seenHost[h]:
			sink.Add(key, "%q is listed twice", h)
		default:
			seenHost[h] = true
			t.Hostnames = append(t.Hostnames, h)
		}
	}
	for i, c := range raw.Certificates {
		key := fmt.Sprintf("certificates[%d]", i)
		h := strings.ToLower(c.Hostname)
		if !seenHost[h] {
			sink.Add(key+".hostname", "%q is not one of the tenant's hostnames", c.Hostname)
		}
		if c.Cert == "" || c.Key == "" {
			sink.Add(key, "want both cert and key (PEM files)")
			continue
		}
		t.Certificates = append(t.Certificates, CertificateConfig{
			Hostname: h,
			Cert:     checkReadable(sink, key+".cert", dir, c.Cert),
			Key:      checkReadable(sink, key+".key", dir, c.Key),
		})
	}
	t.Storage = StorageConfig{Backend: raw.Storage.Backend, ReadOnly: raw.Storage.ReadOnly, MaxPathDepth: raw.Storage.MaxDepth, MaxPathLength: raw.Storage.MaxLen}
	if d := raw.Storage.MaxDepth; d < 0 || d > maxPathDepthLimit {
		sink.Add("storage.max_path_depth", "%d: want 1 to %d path elements (0: the default, %d)", d, maxPathDepthLimit, DefaultMaxPathDepth)
	}
	if n := raw.Storage.MaxLen; n < 0 || n > maxPathLengthLimit {
		sink.Add("storage.max_path_length", "%d: want 1 to %d bytes (0: the default, %d)", n, maxPathLengthLimit, DefaultMaxPathLength)
	}
	switch raw.Storage.Backend {
	case BackendOS:
		if raw.Storage.Dir == "" {
			sink.Add("storage.dir", "missing: the os backend needs the tenant's host directory")
		} else {
			t.Storage.Dir = absUnder(dir, raw.Storage.Dir)
		}
	case BackendMemory:
		if raw.Storage.Dir != "" {
			sink.Add("storage.dir", "the memory backend has no directory; remove dir or use backend = \"os\"")
		}
	case BackendS3:
		if raw.Storage.Dir != "" {
			sink.Add("storage.dir", "the s3 backend has no directory; remove dir (the store is endpoint, bucket and prefix)")
		}
		t.Storage.S3 = parseS3(sink, dir, &raw.Storage)
	default:
		sink.Add("storage.backend", "%q: want \"os\" (with dir), \"s3\" or \"memory\"", raw.Storage.Backend)
	}
	if raw.Storage.Backend != BackendS3 && raw.Storage.s3Set() {
		sink.Add("storage.backend", "s3 keys (endpoint, bucket, credentials...) are set but backend is %q", raw.Storage.Backend)
	}
	if t.QuotaBytes < 0 {
		sink.Add("quota.bytes", "%d: want a number of bytes >= 0 (0: no limit)", t.QuotaBytes)
	}
	if t.QuotaFiles < 0 {
		sink.Add("quota.files", "%d: want a number of files >= 0 (0: no limit)", t.QuotaFiles)
	}
	seenUser := map[string]bool{}
	for i, ru := range raw.Users {
		key := fmt.Sprintf("users[%d]", i)
		u := &UserConfig{Name: ru.Name, PasswordHash: ru.Password, Disabled: ru.Disabled, TLSRequired: ru.TLSRequired, Limits: ru.Limits}
		switch {
		case !validUserName(u.Name):
			sink.Add(key+".name", "%q: want 1 to 128 printable characters without spaces", u.Name)
		case seenUser[u.Name]:
			sink.Add(key+".name", "user %q is defined twice", u.Name)
		}
		seenUser[u.Name] = true
		if err := checkPasswordHash(u.PasswordHash); err != nil {
			// The hash itself is never echoed: it is a secret too.
			sink.Add(key+".password", "%v; make one with `ftpgate hash-password`", err)
		}
		u.Home = "/"
		if ru.Home != "" {
			if !strings.HasPrefix(ru.Home, "/") || cleanAbs(ru.Home) != ru.Home {
				sink.Add(key+".home", "%q: want a clean absolute path inside the tenant's storage, like \"/alice\"", ru.Home)
			}
			u.Home = cleanAbs(ru.Home)
		}
		u.AllowedCIDRs = parseCIDRs(sink, key+".allowed_cidrs", ru.AllowedCIDRs)
		for j, rp := range ru.Permissions {
			pkey := fmt.Sprintf("%s.permissions[%d]", key, j)
			if !strings.HasPrefix(rp.Prefix, "/") || cleanAbs(rp.Prefix) != rp.Prefix {
				sink.Add(pkey+".prefix", "%q: want a clean absolute path as the user sees it (relative to home), like \"/\" or \"/incoming\"", rp.Prefix)
			}
			var allow Perm
			for _, name := range rp.Allow {
				p, ok := parsePerm(name)
				if !ok {
					sink.Add(pkey+".allow", "unknown right %q: want some of %s", name, permNameList())
				}
				allow |= p
			}
			u.Permissions = append(u.Permissions, PermissionConfig{Prefix: cleanAbs(rp.Prefix), Allow: allow})
		}
		t.Users = append(t.Users, u)
	}
	return t, len(*errs) == before
}

// checkTenantSet checks what no single file can: unique ids and host
// names, and a default tenant that exists.
func checkTenantSet(cfg *Config, errs *conf.Errors) {
	ids := map[string]string{}
	folded := map[string]string{}
	hosts := map[string]string{}
	dirs := map[string]string{}
	var s3s []*TenantConfig
	for _, t := range cfg.Tenants {
		lines := scanKeyLinesOfFile(t.File)
		// Logins match ids without regard to ASCII case (ids are ASCII).
		if other, dup := folded[strings.ToLower(t.ID)]; dup {
			*errs = append(*errs, &conf.Error{File: t.File, Line: lines.Line("id"), Key: "id", Msg: fmt.Sprintf("tenant id %q is also used by %s (ids are compared without regard to case)", t.ID, other)})
		}
		ids[t.ID] = t.File
		folded[strings.ToLower(t.ID)] = t.File
		for _, h := range t.Hostnames {
			if other, dup := hosts[h]; dup {
				*errs = append(*errs, &conf.Error{File: t.File, Line: lines.Line("hostnames"), Key: "hostnames", Msg: fmt.Sprintf("host name %q is also claimed by %s", h, other)})
			}
			hosts[h] = t.File
		}
		for _, o := range s3s {
			if s3Overlap(t.Storage.S3, o.Storage.S3) {
				*errs = append(*errs, &conf.Error{File: t.File, Line: lines.Line("storage.prefix"), Key: "storage.prefix", Msg: fmt.Sprintf("the same bucket and a prefix within or around that of %s: tenants must not share storage", o.File)})
			}
		}
		if t.Storage.S3 != nil {
			s3s = append(s3s, t)
		}
		if t.Storage.Dir != "" {
			for dir, other := range dirs {
				if dir == t.Storage.Dir || within(dir, t.Storage.Dir) || within(t.Storage.Dir, dir) {
					*errs = append(*errs, &conf.Error{File: t.File, Line: lines.Line("storage.dir"), Key: "storage.dir", Msg: fmt.Sprintf("directory is also used by %s (the same, inside or around it): tenants must not share storage", other)})
				}
			}
			dirs[t.Storage.Dir] = t.File
			if within(cfg.File, t.Storage.Dir) || t.Storage.Dir == cfg.Server.TenantsDir || within(cfg.Server.TenantsDir, t.Storage.Dir) {
				*errs = append(*errs, &conf.Error{File: t.File, Line: lines.Line("storage.dir"), Key: "storage.dir", Msg: "directory holds the configuration files (and their password hashes): give the tenant a directory of its own"})
			}
		}
	}
	if d := cfg.Server.DefaultTenant; d != "" {
		if _, ok := ids[d]; !ok {
			lines := scanKeyLinesOfFile(cfg.File)
			*errs = append(*errs, &conf.Error{File: cfg.File, Line: lines.Line("tenants.default"), Key: "tenants.default", Msg: fmt.Sprintf("no tenant has id %q", d)})
		}
	}
}

// within reports whether dir lies below parent (both clean and absolute).
func within(dir, parent string) bool {
	rel, err := filepath.Rel(parent, dir)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// scanKeyLinesOfFile reads a file again for the lines of set-wide errors.
func scanKeyLinesOfFile(path string) conf.KeyLines {
	data, err := readConfigFile(path)
	if err != nil {
		return conf.KeyLines{}
	}
	return conf.ScanKeyLines(string(data))
}

// validHostname accepts DNS names and IP literals as HOST and SNI send them.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// validUserName accepts what USER can carry: no spaces or controls.
func validUserName(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for _, r := range n {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// absUnder returns p made absolute against dir.
func absUnder(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// checkReadable returns p made absolute against dir, after checking that
// the file can be read; "" stays "".
func checkReadable(sink *conf.Sink, key, dir, p string) string {
	if p == "" {
		return ""
	}
	abs := absUnder(dir, p)
	f, err := os.Open(abs)
	if err != nil {
		sink.Add(key, "cannot read %q: want a readable PEM file (relative paths start at the file's directory)", p)
		return abs
	}
	f.Close()
	return abs
}

// parseCIDRs parses a list of networks with the grammar every ftpgate
// prefix list shares (conf.ParsePrefix): a bare address is a /32 or /128,
// IPv4-mapped forms fold to IPv4, zones are refused.
func parseCIDRs(sink *conf.Sink, key string, vs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range vs {
		p, err := conf.ParsePrefix(v)
		if err != nil {
			sink.Add(key, "%q: %v", v, err)
			continue
		}
		out = append(out, p)
	}
	return out
}
