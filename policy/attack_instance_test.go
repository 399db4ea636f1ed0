package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
)

// Attack: a module whose cost is outside the code section. The compile
// child bounds compilation, but the decoded module stays in this process
// while installed and every instance (the probe, then each pooled one) is
// built here: 5 MB of globals cost about 110 MiB installed and 90 MiB per
// instance, 4 MB of passive element entries 160 MiB and 40 MiB, 8 MB of
// name section 96 MiB installed, and each tenant may hold PoolSize
// instances. These uploads must be refused
// before compilation with the cap they exceed; before the section caps
// they were installed (200).
func TestAttackInstanceCostRefused(t *testing.T) {
	t.Parallel()
	const globals = 1 << 20
	const elems = 4 << 20
	passive := append([]byte{1, 0}, w.U32(elems)...)
	passive = append(passive, make([]byte, elems)...)
	var imports []byte
	const nImports = 200_000
	for range nImports {
		imports = append(imports, 9)
		imports = append(imports, "ftpp_host"...)
		imports = append(imports, 3)
		imports = append(imports, "log"...)
		imports = append(imports, 0, 3) // type 3: (i32, i32, i32) -> ()
	}
	var dataSegs []byte
	const nData = 2 << 20
	for range nData {
		dataSegs = append(dataSegs, 1, 0) // passive, empty
	}
	customs := make([]byte, 0, 4*200_000)
	for range 200_000 {
		customs = append(customs, 0, 2, 0, 0) // a custom section: empty name, one byte
	}
	// A name section of function names, each an index and an empty name.
	var names []byte
	const nNames = 1 << 20
	for i := range nNames {
		names = append(names, w.U32(uint32(i%3))...)
		names = append(names, 0)
	}
	names = append(append([]byte{1}, w.U32(uint32(len(names)+len(w.U32(nNames))))...), append(w.U32(nNames), names...)...)
	nameSec := append([]byte{0}, w.U32(uint32(5+len(names)))...)
	nameSec = append(append(nameSec, 4, 'n', 'a', 'm', 'e'), names...)
	for _, c := range []struct {
		name, reason string
		wasm         []byte
	}{
		{"globals", "more than 4096 globals", attackModule(attackParts{globals: manyGlobals(globals), nGlobal: globals})},
		{"elements", "more than 262144 element segment entries", attackModule(attackParts{elems: passive, nElem: 1})},
		{"types", "more than 4096 function types", attackModule(attackParts{types: distinctTypes(10_000, 0, 0), nTypes: 10_000})},
		{"imports", "more than 1024 imports", attackModule(attackParts{types: []byte{0x60, 3, w.I32, w.I32, w.I32, 0}, nTypes: 1,
			imports: imports, nImport: nImports})},
		{"data", "more than 131072 data segments", attackModule(attackParts{data: dataSegs, nData: nData})},
		{"customs", "more than 64 custom sections", append(attackModule(attackParts{}), customs...)},
		{"names", "the name section is", append(attackModule(attackParts{}), nameSec...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			f := newAdminFixtureConfig(t, dir, Config{ChildCompile: true, CacheDir: t.TempDir()}, nil)
			code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", c.wasm)
			var resp struct{ Error string }
			if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 400 || !strings.Contains(resp.Error, c.reason) {
				t.Fatalf("PUT of %d bytes: %d %s; want 400 naming %q", len(c.wasm), code, body, c.reason)
			}
			if _, _, ok := f.rt.Installed("acme"); ok {
				t.Fatal("a module is installed")
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "modules")); len(entries) != 0 {
				t.Fatalf("stored after the refusal: %v", entries)
			}
		})
	}
}

// TestSectionFiguresOfGoPolicies: policies the Go toolchain builds use at
// most a quarter of each section cap.
func TestSectionFiguresOfGoPolicies(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"../examples/policies/read-only-paths", "testdata/gohostile"} {
		fig, err := walkSections(builder.Build(t, dir), sectionFigures{measure: true})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		t.Logf("%s: %+v", dir, fig)
		for name, v := range map[string][2]uint64{
			"types":           {fig.types, maxTypes},
			"type values":     {fig.typeValues, maxTypeValues},
			"imports":         {fig.imports, maxImports},
			"globals":         {fig.globals, maxGlobals},
			"exports":         {fig.exports, maxExports},
			"element entries": {fig.elementEntries, maxElementEntries},
			"data segments":   {fig.dataSegments, maxDataSegments},
			"custom sections": {fig.customSections, maxCustomSections},
			"name bytes":      {fig.nameBytes, maxNameSection},
		} {
			if v[0]*4 > v[1] {
				t.Errorf("%s: %s is %d, more than a quarter of the cap %d", dir, name, v[0], v[1])
			}
		}
	}
}
