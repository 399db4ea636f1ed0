package gateway

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestConsoleClusterView (real redis-server): the console's overview on
// gateway A lists both instances of the cluster, A with its readiness and
// open connections, B with its heartbeat; a lone gateway lists itself.
func TestConsoleClusterView(t *testing.T) {
	srv := redistest.Start(t)
	fa := newTwoTenants(t, "console = true\n", clusterExtra(srv.Addr(), "gw-a"))
	fb := newTwoTenants(t, clusterExtra(srv.Addr(), "gw-b"))
	a, b := startWith(t, fa.files, Options{}), startWith(t, fb.files, Options{})
	enginetest.Eventually(t, "both instances listed", func() bool { return len(a.Instances()) == 2 })
	list := a.Instances()
	if !strings.HasPrefix(list[0].Name, "gw-a ") || list[0].Connections != 0 || list[0].Generation != 1 ||
		!strings.HasPrefix(list[1].Name, "gw-b ("+b.Addr().String()) || list[1].Connections != -1 || !strings.HasPrefix(list[1].Health, "heartbeat ") {
		t.Fatalf("instances: %+v", list)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: enginetest.Timeout}
	resp, err := c.PostForm(a.AdminURL()+"/console/login", url.Values{"token": {opToken}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "gw-b ("+b.Addr().String()+")") || !strings.Contains(string(body), "gw-a (") {
		t.Fatalf("overview after login: %d %s", resp.StatusCode, body)
	}

	lone := newTwoTenants(t, "console = true\n")
	g := startWith(t, lone.files, Options{})
	enginetest.Eventually(t, "ready", func() bool { return g.Ready() == nil })
	if l := g.Instances(); len(l) != 1 || !strings.Contains(l[0].Name, g.Addr().String()) || !l[0].Ready || l[0].Health != "ready" {
		t.Fatalf("a lone gateway's instances: %+v", l)
	}
}
