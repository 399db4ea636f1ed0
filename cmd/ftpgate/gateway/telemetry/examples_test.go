package telemetry

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The shipped examples: examples/prometheus/alerts.yml and
// examples/grafana/ftpgate-dashboard.json.
const (
	alertsDir = "../../../../examples/prometheus"
	dashboard = "../../../../examples/grafana/ftpgate-dashboard.json"
)

// familyNames returns every metric family name the registry describes,
// a histogram's _bucket, _sum and _count series included.
func familyNames(t *testing.T) []string {
	t.Helper()
	m := NewMetrics(MetricsOptions{})
	m.WatchCluster(func() ClusterStats { return ClusterStats{} }) // the families of [cluster]
	ch := make(chan *prometheus.Desc, 512)
	go func() { m.Registry().Describe(ch); close(ch) }()
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	var names []string
	for d := range ch {
		if s := name.FindStringSubmatch(d.String()); s != nil {
			names = append(names, s[1], s[1]+"_bucket", s[1]+"_sum", s[1]+"_count")
		}
	}
	if !slices.Contains(names, "ftpgate_logins_total") || !slices.Contains(names, "go_goroutines") {
		t.Fatalf("the registry describes %v", names)
	}
	return names
}

// metricRef finds the metric names a query or rule uses.
var metricRef = regexp.MustCompile(`\b(?:ftpgate|process|go)_[a-z0-9_]+`)

// TestAlertRules: the alert rules pass `promtool check rules` and their
// unit tests (`promtool test rules alerts_test.yml`: each alert fires
// when it should, with its annotations), and name only metrics the
// registry has.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("FTPGATE_INTEGRATION") == "1" {
			t.Fatal("promtool (Debian's prometheus package) is required")
		}
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = alertsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	rules, err := os.ReadFile(filepath.Join(alertsDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	names := familyNames(t)
	for _, n := range metricRef.FindAllString(string(rules), -1) {
		if !slices.Contains(names, n) {
			t.Errorf("alerts.yml uses %s, which the registry lacks", n)
		}
	}
}

// dashboardJSON is what TestDashboard reads of the Grafana dashboard.
type dashboardJSON struct {
	Title  string
	UID    string
	Panels []struct {
		ID         int
		Title      string
		Type       string
		Datasource struct{ Type, UID string }
		GridPos    struct{ H, W, X, Y int }
		Targets    []struct {
			RefID string
			Expr  string
		}
	}
}

// readDashboard reads the shipped dashboard.
func readDashboard(t *testing.T) dashboardJSON {
	t.Helper()
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardJSON
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// TestDashboard: the Grafana dashboard is JSON with a title, a uid and
// panels of unique ids inside the 24-column grid, each query on the
// data source variable, and every metric a query names exists in the
// registry. (TestIntegrationPrometheus runs every query on Prometheus.)
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard %q %q with %d panels", d.Title, d.UID, len(d.Panels))
	}
	names := familyNames(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.Title == "" || p.Type == "" {
			t.Errorf("panel %d %q: duplicate id or no title or type", p.ID, p.Title)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: grid %+v", p.Title, g)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v, want the variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			refs := metricRef.FindAllString(q.Expr, -1)
			if q.RefID == "" || (len(refs) == 0 && !strings.HasPrefix(q.Expr, "up{")) {
				t.Errorf("panel %q: query %q (ref %q) names no ftpgate metric", p.Title, q.Expr, q.RefID)
			}
			for _, n := range refs {
				used[n] = true
				if !slices.Contains(names, n) {
					t.Errorf("panel %q uses %s, which the registry lacks", p.Title, n)
				}
			}
		}
	}
	// Every ftpgate family has a panel.
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(n, "ftpgate_") && n == base && !used[n] && !used[n+"_bucket"] && !used[n+"_count"] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

// TestFamiliesDocumented: CONFIG.md names every ftpgate family of the
// registry, and no other.
func TestFamiliesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../../CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	names := familyNames(t)
	named := map[string]bool{}
	for _, n := range regexp.MustCompile("`(ftpgate_[a-z0-9_]+)`").FindAllStringSubmatch(string(doc), -1) {
		named[n[1]] = true
		if !slices.Contains(names, n[1]) {
			t.Errorf("CONFIG.md names %s, which the registry lacks", n[1])
		}
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(n, "ftpgate_") && (n == base || !slices.Contains(names, base)) && !named[n] {
			t.Errorf("CONFIG.md does not name %s", n)
		}
	}
}
