package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// stouRace is a Python ftplib client that starts STOU NAME on the first
// gateway and sends SIZE bytes of "a" without closing the data
// connection, then stores "from b" with STOU NAME through the second
// gateway, then finishes the first upload and prints both replies.
const stouRace = `
import ftplib, sys
name, size = sys.argv[5], int(sys.argv[6])
a, b = ftplib.FTP(), ftplib.FTP()
a.connect(sys.argv[1], int(sys.argv[2]), timeout=60); a.login("alice", "alice-pw")
b.connect(sys.argv[3], int(sys.argv[4]), timeout=60); b.login("alice", "alice-pw")
conn = a.transfercmd("STOU " + name)
conn.sendall(b"a" * size)
import io
print("b:", b.storbinary("STOU " + name, io.BytesIO(b"from b")))
conn.close()
try:
    print("a:", a.voidresp())
except ftplib.all_errors as e:
    print("a-failed:", e)
`

// TestIntegrationS3STOURace: two STOUs to one new name on two instances
// of ftpgate over one bucket, the first started before the second and
// completed after it (as one PUT, and as a multipart upload). The second
// stores its file; the first fails with 451 instead of replacing it.
// Here tenancy's check before the write sees the name taken; the window
// after that check is closed by the conditional write (If-None-Match: *),
// which s3fs's TestExclusiveUploadLosesRace hits directly.
func TestIntegrationS3STOURace(t *testing.T) {
	python := requireTool(t, "python3")
	st := startWeed(t)
	a := startS3Gateway(t, st, "tenants/acme")
	b := startS3Gateway(t, st, "tenants/acme")
	ha, pa, _ := net.SplitHostPort(a.addr)
	hb, pb, _ := net.SplitHostPort(b.addr)
	for _, size := range []int{100, 9 << 20} {
		name := fmt.Sprintf("race%d.bin", size)
		out := runClient(t, python, "-c", stouRace, ha, pa, hb, pb, name, fmt.Sprint(size))
		if !strings.Contains(out, "b: 226") || !strings.Contains(out, "a-failed:") {
			t.Fatalf("%d bytes: want b stored and a refused:\n%s", size, out)
		}
		o, err := st.Client.GetObject(context.Background(), weedBucket, "tenants/acme/"+name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(o)
		_ = o.Close()
		if err != nil || string(got) != "from b" {
			t.Fatalf("%d bytes: object holds %d bytes (%v), want b's", size, len(got), err)
		}
		t.Logf("%d bytes: %s", size, strings.TrimSpace(out))
	}
}
