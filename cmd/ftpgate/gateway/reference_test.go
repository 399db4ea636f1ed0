package gateway

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestConfigReference: CONFIG.md names every key of the schema in its
// tables, and no key the schema lacks.
func TestConfigReference(t *testing.T) {
	doc, err := os.ReadFile("../../../CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := Keys()
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:listen|tls|passive|timeouts|log|commands|tenants|proxy_protocol|limits|policy|admin|audit|telemetry|cluster)\\.[a-z0-9_.*]+)`").FindAllSubmatch(doc, -1) {
		k := string(m[1])
		named[k] = true
		if !slices.Contains(keys, k) {
			t.Errorf("CONFIG.md names %s, which the schema lacks", k)
		}
	}
	for _, k := range keys {
		if !named[k] {
			t.Errorf("CONFIG.md does not name %s", k)
		}
	}
}
