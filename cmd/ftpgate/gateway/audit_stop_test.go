package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestAuditKeepsEventsOfAStopCutShort: when the shutdown timeout ends
// with an upload still running (a client that stalls), the stop closes
// that session; the audit log must still hold what happened: the MKD and
// RMD acknowledged before the stop, the cut upload (426) and the logout.
// The audit log's flush must not share the shutdown's spent context, nor
// close before the sessions the stop closed have reported. (Without the
// fix this fails about every other run: the cut upload's and the
// logout's events race the audit log's close.)
func TestAuditKeepsEventsOfAStopCutShort(t *testing.T) {
	f := newFiles(t)
	f.write(t, auditConf, "")
	g, _ := newGateway(t, f, Options{})
	ran := runGateway(g)
	c, _, _ := enginetest.Dial(t, g.Addr().String(), "127.0.0.1")
	c.Expect("USER alice", 331)
	c.Expect("PASS secret", 230)
	c.Expect("MKD d", 257)
	c.Expect("RMD d", 250)
	stallUpload(t, c, "big.bin")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned nil with an upload stalled")
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, filepath.Join(f.dir, "audit.log"))
	var got []string
	for _, e := range evs {
		got = append(got, e["event"].(string)+" "+e["status"].(string)+" "+str(e["verb"]))
	}
	want := []string{"login ok PASS", "command ok MKD", "command ok RMD", "transfer failed STOR", "logout ok "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit events %q, want %q", got, want)
	}
}

func str(v any) string { s, _ := v.(string); return s }
