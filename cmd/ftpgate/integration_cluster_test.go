package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/tenancy/s3test"
	"github.com/minio/minio-go/v7"
)

// The cluster integration test runs examples/cluster as it is shipped
// (its ports, the store's endpoint and Redis's address swapped for the
// test's): Debian's haproxy in front of three built ftpgate instances on
// 127.0.0.3, .4 and .5, their one tenant in SeaweedFS, their shared state
// in Debian's redis-server. The clients (curl, lftp, Python's ftplib) go
// through the balancer only, from 127.0.0.2 (127.0.0.6 for the ban case,
// which bans it). One setup serves every case; the case that kills an
// instance runs last.

const (
	clusterClient = "127.0.0.2" // the clients' source address
	clusterBanned = "127.0.0.6" // the source address the ban case bans
	// clusterAdminToken is the operator token of every instance.
	clusterAdminToken = "cluster-it-operator-token"
	// clusterAcmeToken is acme's own admin token in examples/cluster/tenants/acme.toml.
	clusterAcmeToken = "acme-demo-admin-token"
	// clusterBucket is the bucket examples/cluster/tenants/acme.toml names.
	clusterBucket = "ftpgate"
)

// clusterHosts are the instances' addresses, as in the example.
var clusterHosts = map[string]string{"a": "127.0.0.3", "b": "127.0.0.4", "c": "127.0.0.5"}

// clusterNames are the instances in order.
var clusterNames = []string{"a", "b", "c"}

// clusterPorts are the ports the test rewrites the example's with.
type clusterPorts struct {
	control   int // on the balancer and on each instance
	base      int // passive ports: base..base+9 for a, +10.. for b, +20.. for c
	telemetry int // each instance's telemetry listener
	admin     int // each instance's admin API
}

// pickClusterPorts finds ports below Linux's ephemeral range, free on the
// balancer's and every instance's address.
func pickClusterPorts(t *testing.T) clusterPorts {
	t.Helper()
	for range 200 {
		p := clusterPorts{control: 20000 + rand.IntN(12000), base: 20000 + rand.IntN(12000-30),
			telemetry: 20000 + rand.IntN(12000), admin: 20000 + rand.IntN(12000)}
		single := []int{p.control, p.telemetry, p.admin}
		ok := p.control != p.telemetry && p.control != p.admin && p.telemetry != p.admin
		for _, s := range single {
			ok = ok && (s < p.base || s >= p.base+30)
		}
		ok = ok && portFree(haBalancer, p.control)
		for i, name := range clusterNames {
			h := clusterHosts[name]
			for _, s := range single {
				ok = ok && portFree(h, s)
			}
			for j := 0; j < 10 && ok; j++ {
				ok = portFree(haBalancer, p.base+10*i+j) && portFree(h, p.base+10*i+j)
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports for HAProxy and the instances")
	return clusterPorts{}
}

// clusterInstance is one running (or killed) ftpgate of the rig.
type clusterInstance struct {
	name      string
	config    string // its server file
	lo, hi    int    // its passive range
	telemetry string // http://HOST:PORT
	admin     string // http://HOST:PORT
	stderr    *lockedBuffer
	cmd       *exec.Cmd
	exited    chan struct{} // closed once the process has ended
}

// clusterRig is the whole cluster of one test.
type clusterRig struct {
	dir     string // the copy of examples/cluster
	ports   clusterPorts
	front   string // HAProxy's control frontend
	store   *s3test.Store
	inst    map[string]*clusterInstance
	env     []string
	cluster bool // [cluster] is on (the gateway knows it)
	redis   *redistest.Server
}

// replaceOnce replaces old with new in s, failing unless old occurs
// exactly once: the test follows the example's layout, and a changed
// example must change the test too.
func replaceOnce(t *testing.T, file, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("examples/cluster/%s: want exactly one %q, found %d; update this test with the example", file, old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// copyClusterExample copies examples/cluster into dir with the test's
// ports and store, applying edit to each file's text (name relative to
// the example directory).
func copyClusterExample(t *testing.T, dir string, edit func(name, text string) string) {
	t.Helper()
	err := filepath.WalkDir(clusterExampleDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(clusterExampleDir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(edit(filepath.ToSlash(rel), string(b))), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startClusterRig starts the store, Redis (with [cluster]), the three
// instances and HAProxy, each stopped when t ends.
func startClusterRig(t *testing.T) *clusterRig {
	t.Helper()
	haproxy := requireHAProxy(t)
	r := &clusterRig{dir: t.TempDir(), inst: map[string]*clusterInstance{}, cluster: clusterSectionKnown()}
	r.store = s3test.Start(t)
	r.store.MakeBucket(t, clusterBucket)
	redisAddr := ""
	if r.cluster {
		r.redis = startClusterRedis(t)
		redisAddr = r.redis.Addr()
	}
	// The ports are picked once the store and Redis listen: weed mini
	// binds fixed ports of its own in the range the rig picks from (its
	// admin server's 23646), which a check made before it started saw
	// free, and HAProxy then could not bind.
	r.ports = pickClusterPorts(t)
	r.env = append(os.Environ(),
		"FTPGATE_ADMIN_TOKEN="+clusterAdminToken,
		"FTPGATE_REDIS_PASSWORD="+clusterRedisPassword,
		"FTPGATE_S3_ACCESS_KEY="+r.store.AccessKey,
		"FTPGATE_S3_SECRET_KEY="+r.store.SecretKey)
	p := r.ports
	copyClusterExample(t, r.dir, func(name, text string) string {
		switch {
		case strings.HasPrefix(name, "server-"):
			i := strings.IndexByte("abc", name[len("server-")])
			inst := clusterNames[i]
			h := clusterHosts[inst]
			lo := p.base + 10*i
			text = replaceOnce(t, name, text, fmt.Sprintf(`control = "%s:2121"`, h), fmt.Sprintf(`control = "%s:%d"`, h, p.control))
			text = replaceOnce(t, name, text, fmt.Sprintf(`ports = "%d-%d"`, 30000+10*i, 30009+10*i), fmt.Sprintf(`ports = "%d-%d"`, lo, lo+9))
			text = replaceOnce(t, name, text, fmt.Sprintf(`listen = "%s:9180"`, h), fmt.Sprintf(`listen = "%s:%d"`, h, p.admin))
			text = replaceOnce(t, name, text, fmt.Sprintf(`listen = "%s:9100"`, h), fmt.Sprintf(`listen = "%s:%d"`, h, p.telemetry))
			if r.cluster {
				text = replaceOnce(t, name, text, `redis = "127.0.0.1:6379"`, fmt.Sprintf(`redis = %q`, redisAddr))
				// The example keeps the default deadline of a Redis call
				// (50 ms); three race-instrumented instances, haproxy,
				// Redis, the store and the clients on two shared cores
				// can pass it, and a call past it falls back to local
				// state (bans open): the cases are about sharing, not
				// about the deadline, so give it room.
				text = replaceOnce(t, name, text, fmt.Sprintf("instance_id = %q", inst), fmt.Sprintf("instance_id = %q\ndeadline = \"1s\"", inst))
			} else {
				// Before the cluster package: the instances share the
				// store only.
				text = text[:strings.Index(text, "\n[cluster]\n")+1]
			}
		case name == "tenants/acme.toml":
			text = replaceOnce(t, name, text, `endpoint = "http://127.0.0.1:8333"`, fmt.Sprintf("endpoint = %q", r.store.URL))
		case name == "haproxy.cfg":
			text = replaceOnce(t, name, text, "bind 127.0.0.1:2121", fmt.Sprintf("bind %s:%d", haBalancer, p.control))
			for i, inst := range clusterNames {
				h := clusterHosts[inst]
				text = replaceOnce(t, name, text, fmt.Sprintf("server ftpgate-%s %s:2121 send-proxy-v2 check port 9100\n", inst, h),
					fmt.Sprintf("server ftpgate-%s %s:%d send-proxy-v2 check port %d\n", inst, h, p.control, p.telemetry))
				text = replaceOnce(t, name, text, fmt.Sprintf("bind 127.0.0.1:%d-%d\n", 30000+10*i, 30009+10*i),
					fmt.Sprintf("bind %s:%d-%d\n", haBalancer, p.base+10*i, p.base+10*i+9))
			}
		}
		return text
	})
	// A tenant of the quota case's own, beside the example's acme, so
	// that its small quota binds no other case.
	quotaTenant := fmt.Sprintf(`id = "quota"
[storage]
backend = "s3"
endpoint = %q
bucket = %q
prefix = "tenants/quota"
path_style = true
access_key_id_env = "FTPGATE_S3_ACCESS_KEY"
secret_access_key_env = "FTPGATE_S3_SECRET_KEY"
[quota]
bytes = %d
[[users]]
name = "q"
password = %q
`, r.store.URL, clusterBucket, clusterQuotaBytes, itHash(t, "q-pw"))
	if err := os.WriteFile(filepath.Join(r.dir, "tenants", "quota.toml"), []byte(quotaTenant), 0o600); err != nil {
		t.Fatal(err)
	}
	// The instances start one after the other (two cores: compiling
	// nothing, but each opens the store), then HAProxy.
	for _, name := range clusterNames {
		r.startInstance(t, name)
	}
	cfg, err := os.ReadFile(filepath.Join(r.dir, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	r.front = net.JoinHostPort(haBalancer, strconv.Itoa(p.control))
	startHAProxy(t, haproxy, string(cfg), p.control)
	// HAProxy starts with every server up; wait until each has passed
	// its checks, so that round robin sees all three.
	for _, name := range clusterNames {
		waitReadyz(t, &itServer{telemetry: r.inst[name].telemetry}, http.StatusOK)
	}
	return r
}

// startInstance runs (or runs again) instance name from its server file
// and waits until it listens and is ready.
func (r *clusterRig) startInstance(t *testing.T, name string) *clusterInstance {
	t.Helper()
	i := strings.Index("abc", name)
	h := clusterHosts[name]
	in := &clusterInstance{name: name, config: filepath.Join(r.dir, "server-"+name+".toml"),
		lo: r.ports.base + 10*i, hi: r.ports.base + 10*i + 9,
		telemetry: fmt.Sprintf("http://%s:%d", h, r.ports.telemetry), admin: fmt.Sprintf("http://%s:%d", h, r.ports.admin),
		stderr: &lockedBuffer{}, exited: make(chan struct{})}
	in.cmd = exec.Command(ftpgateBinary(t), "serve", "--config", in.config)
	in.cmd.Env = r.env
	in.cmd.Stderr = in.stderr
	stdout, err := in.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		announced := false
		for sc.Scan() {
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil && m[1] == "listening on" && !announced {
				announced = true
				close(listening)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = in.cmd.Wait()
		close(in.exited)
	}()
	select {
	case <-listening:
	case <-in.exited:
		t.Fatalf("instance %s exited before listening\n%s", name, in.stderr)
	case <-time.After(itTimeout):
		_ = in.cmd.Process.Kill()
		t.Fatalf("instance %s did not listen\n%s", name, in.stderr)
	}
	t.Cleanup(func() {
		select {
		case <-in.exited: // killed by the test
			return
		default:
		}
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
			if in.cmd.ProcessState != nil && !in.cmd.ProcessState.Success() {
				t.Errorf("instance %s: %v\n%s", name, in.cmd.ProcessState, tail(in.stderr.String(), 6000))
			}
		case <-time.After(itTimeout):
			_ = in.cmd.Process.Kill()
			t.Errorf("instance %s did not stop after SIGTERM\n%s", name, tail(in.stderr.String(), 6000))
		}
		if t.Failed() {
			t.Logf("instance %s log:\n%s", name, tail(in.stderr.String(), 6000))
		}
	})
	waitReadyz(t, &itServer{telemetry: in.telemetry}, http.StatusOK)
	r.inst[name] = in
	return in
}

// instanceOf names the instance whose passive range holds port.
func (r *clusterRig) instanceOf(port int) string {
	for _, name := range clusterNames {
		if in := r.inst[name]; port >= in.lo && port <= in.hi {
			return name
		}
	}
	return "?"
}

// logins counts each instance's logins so far.
func (r *clusterRig) logins() map[string]int {
	n := map[string]int{}
	for _, name := range clusterNames {
		n[name] = strings.Count(r.inst[name].stderr.String(), `"msg":"tenancy: logged in"`)
	}
	return n
}

// loggedInOn waits until one instance logged a login more than before
// and names it. The log line comes through a pipe: a bounded poll.
func (r *clusterRig) loggedInOn(t *testing.T, before map[string]int) string {
	t.Helper()
	deadline := time.Now().Add(itTimeout)
	for {
		for name, n := range r.logins() {
			if n > before[name] {
				return name
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no instance logged the login")
		}
		<-time.After(20 * time.Millisecond)
	}
}

// clusterPayload is the content cluster_client.py uploads under name.
func clusterPayload(name string, size int) []byte {
	block := sha256.Sum256([]byte(name))
	var b []byte
	for len(b) < size {
		b = append(b, block[:]...)
	}
	return b[:size]
}

// pyClient is a running testdata/cluster_client.py.
type pyClient struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
	cmd   *exec.Cmd
}

// startPyClient starts the line-driven ftplib client for user through the
// balancer from source.
func (r *clusterRig) startPyClient(t *testing.T, user, password, source string) *pyClient {
	t.Helper()
	python := requireTool(t, "python3")
	host, port, _ := net.SplitHostPort(r.front)
	cmd := exec.Command(python, filepath.Join("testdata", "cluster_client.py"), host, port, user, password, source)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &pyClient{t: t, stdin: stdin, lines: make(chan string, 16), cmd: cmd}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(itTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() && stderr.String() != "" {
			t.Logf("cluster_client.py stderr:\n%s", stderr)
		}
	})
	return c
}

// do sends one command line and returns the answer's words.
func (c *pyClient) do(line string) []string {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatalf("cluster_client.py %q: %v", line, err)
	}
	return c.answer(line)
}

// answer reads the next answer line.
func (c *pyClient) answer(what string) []string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("cluster_client.py ended before answering %q", what)
		}
		return strings.Fields(l)
	case <-time.After(2 * itTimeout):
		c.t.Fatalf("cluster_client.py did not answer %q", what)
	}
	return nil
}

// connectTo connects until the session is on instance want (round robin
// reaches it within three tries when nothing else connects); it returns
// the control connection's local port.
func (r *clusterRig) connectTo(t *testing.T, c *pyClient, want string) string {
	t.Helper()
	for range 12 {
		a := c.do("connect")
		if len(a) != 4 || a[0] != "ok" {
			t.Fatalf("connect: %v", a)
		}
		port, _ := strconv.Atoi(a[2])
		if r.instanceOf(port) == want {
			return a[3]
		}
	}
	t.Fatalf("12 connections through HAProxy never reached instance %s", want)
	return ""
}

// mustAck checks an upload's answer and returns the instance it went to.
func (r *clusterRig) mustAck(t *testing.T, a []string, name string) string {
	t.Helper()
	if len(a) < 3 || a[0] != "ack" || a[1] != name {
		t.Fatalf("upload of %s: %v", name, a)
	}
	port, _ := strconv.Atoi(a[2])
	return r.instanceOf(port)
}

// objectSum returns the sha256 of the acme object name, or "" when
// there is none.
func (r *clusterRig) objectSum(t *testing.T, tenant, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itTimeout)
	defer cancel()
	o, err := r.store.Client.GetObject(ctx, clusterBucket, "tenants/"+tenant+"/"+name, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return ""
		}
		t.Fatalf("object %s: %v", name, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sumHex is the sha256 of b in hex.
func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestIntegrationCluster runs the cluster of examples/cluster and drives
// it through HAProxy. Cases that need a cluster feature not merged yet
// skip with the branch that brings it.
func TestIntegrationCluster(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	requireTool(t, "python3")
	r := startClusterRig(t)
	local := t.TempDir()
	auth := "alice:alice-demo"

	t.Run("uploaded-through-one-downloads-through-another", func(t *testing.T) {
		// lftp uploads; curl downloads in the next session, which round
		// robin sends to another instance.
		src := filepath.Join(local, "shared.bin")
		sum := writeFile(t, src, 2<<20+99, "cluster-shared")
		before := r.logins()
		runClient(t, lftp, "-c", "set net:max-retries 1; set net:timeout 30; set cmd:fail-exit yes; set ftp:ssl-allow no; "+
			"set net:socket-bind-ipv4 "+clusterClient+"; "+
			fmt.Sprintf("open -u alice,alice-demo -p %d ftp://%s; put %s -o shared.bin; bye", r.ports.control, haBalancer, src))
		up := r.loggedInOn(t, before)
		before = r.logins()
		out := filepath.Join(local, "shared.back")
		runClient(t, curl, "-sS", "--max-time", "120", "--interface", clusterClient, "-u", auth, "-o", out, "ftp://"+r.front+"/shared.bin")
		down := r.loggedInOn(t, before)
		sameFile(t, out, sum)
		if up == down {
			t.Fatalf("upload and download both went to instance %s", up)
		}
		t.Logf("lftp uploaded through %s, curl downloaded through %s", up, down)

		// ftplib: pinned to a, then to b and c.
		c := r.startPyClient(t, "alice", "alice-demo", clusterClient)
		r.connectTo(t, c, "a")
		data := clusterPayload("ftplib-a.bin", 300000)
		r.mustAck(t, c.do("put ftplib-a.bin 300000"), "ftplib-a.bin")
		for _, other := range []string{"b", "c"} {
			r.connectTo(t, c, other)
			a := c.do("get ftplib-a.bin")
			if len(a) != 4 || a[0] != "got" || a[2] != sumHex(data) {
				t.Fatalf("download through %s: %v", other, a)
			}
		}
		c.do("quit")
	})

	// The cases that need [cluster]; before it they skip.
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"any-admin-api-sees-the-cluster", r.adminSeesCluster},
		{"failed-logins-ban-on-every-instance", func(t *testing.T) { r.failedLoginsBan(t, curl) }},
		{"session-cap-cluster-wide", r.sessionCap},
		{"policy-uploaded-through-a-rules-on-b-and-c", r.policyEverywhere},
		{"quota-holds-under-parallel-uploads", func(t *testing.T) { r.quotaParallel(t, curl) }},
		{"redis-stopped-and-restarted", func(t *testing.T) { r.redisOutage(t, curl) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !r.cluster {
				t.Skip("needs [cluster] from h-clcore")
			}
			tc.run(t)
		})
	}

	// Last: it kills instance c.
	t.Run("instance-killed-loses-no-acknowledged-file", func(t *testing.T) {
		r.killedInstance(t, curl)
	})
}

// killedInstance pins an ftplib session to instance c, uploads two files
// there (acknowledged), starts a third and kills c with SIGKILL half-way
// through it; the client then reconnects through HAProxy, which sends it
// to a or b, and uploads a fourth. Every acknowledged file downloads
// through the balancer with its bytes; the cut one is nowhere.
func (r *clusterRig) killedInstance(t *testing.T, curl string) {
	t.Helper()
	c := r.startPyClient(t, "alice", "alice-demo", clusterClient)
	r.connectTo(t, c, "c")
	acked := map[string]int{"kill-1.bin": 70000, "kill-2.bin": 1<<20 + 5}
	for name, size := range acked {
		if on := r.mustAck(t, c.do(fmt.Sprintf("put %s %d", name, size)), name); on != "c" {
			t.Fatalf("%s went to %s, not c", name, on)
		}
	}
	if a := c.do("put-hold kill-cut.bin 4000000"); len(a) != 3 || a[0] != "sending" {
		t.Fatalf("put-hold: %v", a)
	}
	victim := r.inst["c"]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	// The rest of the upload goes to a dead instance: no 226.
	if a := c.do("go"); len(a) < 2 || a[0] != "err" || a[1] != "kill-cut.bin" {
		t.Fatalf("the upload cut by the kill: %v", a)
	}
	a := c.do("put-retry kill-3.bin 50000")
	if on := r.mustAck(t, a, "kill-3.bin"); on != "a" && on != "b" {
		t.Fatalf("after the kill the client reached %s: %v", on, a)
	}
	acked["kill-3.bin"] = 50000
	t.Logf("the client reconnected %s time(s) and went on through another instance", a[3])
	c.do("quit")

	local := t.TempDir()
	for name, size := range acked {
		want := sumHex(clusterPayload(name, size))
		if got := r.objectSum(t, "acme", name); got != want {
			t.Fatalf("object %s: sha256 %q, want %s", name, got, want)
		}
		out := filepath.Join(local, name)
		runClient(t, curl, "-sS", "--max-time", "120", "--interface", clusterClient, "-u", "alice:alice-demo", "-o", out, "ftp://"+r.front+"/"+name)
		b, err := os.ReadFile(out)
		if err != nil || sumHex(b) != want {
			t.Fatalf("%s through the balancer: %d bytes, err %v", name, len(b), err)
		}
	}
	if got := r.objectSum(t, "acme", "kill-cut.bin"); got != "" {
		t.Fatal("the upload cut by the kill left an object")
	}
	list := runClient(t, curl, "-sS", "--max-time", "60", "--interface", clusterClient, "-u", "alice:alice-demo", "--list-only", "ftp://"+r.front+"/")
	if strings.Contains(list, "kill-cut.bin") {
		t.Fatalf("kill-cut.bin listed:\n%s", list)
	}
}

// clusterQuotaBytes is the quota tenant's quota.
const clusterQuotaBytes = 4 << 20

// clusterRedisPassword is the password the test's Redis asks for.
const clusterRedisPassword = "cluster-it-redis-password"

// startClusterRedis starts Debian's redis-server for [cluster], with the
// password the example's redis.conf asks for too.
func startClusterRedis(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.Start(t, "--requirepass", clusterRedisPassword)
}

// parallel runs n copies of fn at once and waits for them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// curlFails runs curl and reports whether it failed, with its output.
func curlFails(curl string, args ...string) (bool, string) {
	cmd := exec.Command(curl, args...)
	out, err := cmd.CombinedOutput()
	return err != nil, string(out)
}

// failedLoginsBan: examples/cluster bans an address after ten failed
// logins (limits.login_failures). Ten failures from clusterBanned (for a
// user that does not exist, so that no account's score moves), spread
// by round robin over the three instances (four, three, three: under each
// instance's own count), ban it on all three: the admin API of every
// instance lists the ban and the right password is refused through each.
// Lifting it through one instance's admin API lifts it everywhere.
func (r *clusterRig) failedLoginsBan(t *testing.T, curl string) {
	t.Helper()
	before := r.logins()
	parallel(10, func(i int) {
		if failed, out := curlFails(curl, "-sS", "--max-time", "60", "--interface", clusterBanned, "-u", "mallory:wrong-password", "--list-only", "ftp://"+r.front+"/"); !failed {
			t.Errorf("a wrong password was taken: %s", out)
		}
	})
	if t.Failed() {
		return
	}
	for _, name := range clusterNames {
		code, body := adminDo(t, "GET", r.inst[name].admin+"/v1/bans", clusterAdminToken, nil)
		if code != http.StatusOK || !strings.Contains(body, clusterBanned) {
			falls := map[string]int{}
			for _, n := range clusterNames {
				falls[n] = strings.Count(r.inst[n].stderr.String(), `"feature":"bans"`)
			}
			t.Fatalf("instance %s: GET /v1/bans: %d %s (log lines of bans falling back, by instance: %v)", name, code, body, falls)
		}
	}
	for i := range 3 { // round robin: once through each instance
		if failed, out := curlFails(curl, "-sS", "--max-time", "60", "--interface", clusterBanned, "-u", "alice:alice-demo", "--list-only", "ftp://"+r.front+"/"); !failed {
			t.Fatalf("session %d from the banned address logged in: %s", i, out)
		}
	}
	if after := r.logins(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("logins from the banned address: before %v, after %v", before, after)
	}
	code, body := adminDo(t, "DELETE", r.inst["c"].admin+"/v1/bans/"+clusterBanned, clusterAdminToken, nil)
	if code != http.StatusOK {
		t.Fatalf("DELETE /v1/bans through c: %d %s", code, body)
	}
	for _, name := range clusterNames {
		if code, body := adminDo(t, "GET", r.inst[name].admin+"/v1/bans", clusterAdminToken, nil); code != http.StatusOK || strings.Contains(body, clusterBanned) {
			t.Fatalf("instance %s after the lift: GET /v1/bans: %d %s", name, code, body)
		}
	}
	for range 3 {
		runClient(t, curl, "-sS", "--max-time", "60", "--interface", clusterBanned, "-u", "alice:alice-demo", "--list-only", "ftp://"+r.front+"/")
	}
}

// sessionCap: bob may hold two sessions (examples/cluster/tenants/acme.toml).
// Round robin puts three sessions on three instances, each of which
// would take one on its own count: the third is refused, and once one
// ends a new one is taken.
func (r *clusterRig) sessionCap(t *testing.T) {
	t.Helper()
	var cs []*pyClient
	for range 3 {
		cs = append(cs, r.startPyClient(t, "bob", "bob-demo", clusterClient))
	}
	for i, c := range cs[:2] {
		if a := c.do("connect"); len(a) < 2 || a[0] != "ok" {
			t.Fatalf("bob's session %d: %v", i+1, a)
		}
	}
	a := cs[2].do("connect")
	if len(a) < 2 || a[0] != "err" {
		t.Fatalf("bob's third session in the cluster: %v", a)
	}
	t.Logf("third session: %v", a)
	cs[0].do("quit")
	// The ended session's slot comes back when its instance has seen the
	// QUIT: a bounded retry, since the client cannot see that moment.
	deadline := time.Now().Add(itTimeout)
	for {
		a = cs[2].do("connect")
		if len(a) >= 2 && a[0] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's session after one ended: %v", a)
		}
		<-time.After(100 * time.Millisecond)
	}
	cs[1].do("quit")
	cs[2].do("quit")
}

// policyNotifyBound is how soon a policy uploaded through one instance
// rules on the others (issue 15: 2 s), with room for the race detector's
// slower compiles.
func policyNotifyBound() time.Duration {
	if raceEnabled {
		return 6 * time.Second
	}
	return 2 * time.Second
}

// policyEverywhere uploads examples/policies/wat/example.wasm (DELE
// refused with 550 "deletion is disabled by policy") as acme's policy
// through a's admin API, with acme's own token, and asks for a DELE on
// sessions already open on b and on c until it is refused by the policy.
func (r *clusterRig) policyEverywhere(t *testing.T) {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "..", "examples", "policies", "wat", "example.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*pyClient{}
	for _, name := range []string{"b", "c"} {
		c := r.startPyClient(t, "alice", "alice-demo", clusterClient)
		r.connectTo(t, c, name)
		if a := c.do("dele no-such-file.txt"); strings.Contains(strings.Join(a, " "), "disabled by policy") {
			t.Fatalf("instance %s refused by policy before the upload: %v", name, a)
		}
		clients[name] = c
	}
	policyURL := r.inst["a"].admin + "/v1/tenants/acme/policy"
	code, body := adminDo(t, "PUT", policyURL, clusterAcmeToken, wasm)
	if code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("PUT %s: %d %s", policyURL, code, body)
	}
	uploaded := time.Now()
	t.Cleanup(func() { adminDo(t, "DELETE", policyURL, clusterAcmeToken, nil) })
	for name, c := range clients {
		for {
			a := c.do("dele no-such-file.txt")
			if strings.Contains(strings.Join(a, " "), "disabled by policy") {
				t.Logf("the policy rules on %s %v after the upload", name, time.Since(uploaded).Round(time.Millisecond))
				break
			}
			if time.Since(uploaded) > policyNotifyBound() {
				t.Fatalf("the policy uploaded through a does not rule on %s after %v: %v", name, policyNotifyBound(), a)
			}
			<-time.After(20 * time.Millisecond)
		}
		c.do("quit")
	}
}

// quotaParallel: the quota tenant may hold clusterQuotaBytes. Twelve
// uploads of a quarter of it at once, through all three instances (four
// each: each instance alone would take them all), store no more than the
// quota and one reservation step (1 MiB, here one upload: the bound while
// a periodic count of the storage runs; RATIONALE.md).
func (r *clusterRig) quotaParallel(t *testing.T, curl string) {
	t.Helper()
	const n, size = 12, clusterQuotaBytes / 4
	src := filepath.Join(t.TempDir(), "q.bin")
	writeFile(t, src, size, "quota")
	// The first upload of a tenant finds no count of its usage in Redis
	// and is refused (450) while one is made: a bounded retry of a small
	// one first, so that the parallel uploads meet the quota, not that.
	warm := filepath.Join(t.TempDir(), "warm.bin")
	writeFile(t, warm, 10, "warm")
	deadline := time.Now().Add(itTimeout)
	for {
		failed, out := curlFails(curl, "-sS", "--max-time", "60", "--interface", clusterClient, "-u", "q@quota:q-pw", "-T", warm, "ftp://"+r.front+"/warm.bin")
		if !failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quota tenant takes no upload: %s", out)
		}
		<-time.After(100 * time.Millisecond)
	}
	var refused atomic.Int32
	parallel(n, func(i int) {
		if failed, _ := curlFails(curl, "-sS", "--max-time", "120", "--interface", clusterClient, "-u", "q@quota:q-pw", "-T", src,
			fmt.Sprintf("ftp://%s/q%d.bin", r.front, i)); failed {
			refused.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), itTimeout)
	defer cancel()
	var stored int64
	for o := range r.store.Client.ListObjects(ctx, clusterBucket, minio.ListObjectsOptions{Prefix: "tenants/quota/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		stored += o.Size
	}
	t.Logf("%d of %d uploads refused; %d bytes stored, quota %d", refused.Load(), n, stored, clusterQuotaBytes)
	if stored > clusterQuotaBytes+size {
		t.Fatalf("%d bytes stored under a quota of %d", stored, clusterQuotaBytes)
	}
	if refused.Load() == 0 {
		t.Fatal("no upload was refused")
	}
}

// redisOutage stops Redis: with examples/cluster's fail modes (bans,
// sessions, rates and policies open, quota closed) logins go on through
// every instance and uploads are refused; once Redis is back, uploads
// are taken again without a restart of any instance.
func (r *clusterRig) redisOutage(t *testing.T, curl string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "outage.bin")
	writeFile(t, src, 1000, "outage")
	r.redis.Stop()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			r.redis.Restart()
		}
	})
	for i := range 3 { // once through each instance
		runClient(t, curl, "-sS", "--max-time", "60", "--interface", clusterClient, "-u", "alice:alice-demo", "--list-only", "ftp://"+r.front+"/")
		if failed, out := curlFails(curl, "-sS", "--max-time", "60", "--interface", clusterClient, "-u", "alice:alice-demo", "-T", src,
			fmt.Sprintf("ftp://%s/outage-%d.bin", r.front, i)); !failed {
			t.Fatalf("an upload was taken while Redis was down (quota fails closed): %s", out)
		}
	}
	r.redis.Restart()
	restarted = true
	// go-redis reconnects on its next call: a bounded retry.
	for i := range 3 {
		deadline := time.Now().Add(itTimeout)
		for {
			failed, out := curlFails(curl, "-sS", "--max-time", "60", "--interface", clusterClient, "-u", "alice:alice-demo", "-T", src,
				fmt.Sprintf("ftp://%s/after-%d.bin", r.front, i))
			if !failed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("uploads still refused after Redis came back: %s", out)
			}
			<-time.After(200 * time.Millisecond)
		}
	}
}

// adminSeesCluster: the admin API of every instance lists the three
// instances; a's lists a session held by c, and ends it: the client gets
// 421 on its next command.
func (r *clusterRig) adminSeesCluster(t *testing.T) {
	t.Helper()
	for _, name := range clusterNames {
		code, body := adminDo(t, "GET", r.inst[name].admin+"/v1/cluster/instances", clusterAdminToken, nil)
		var reply struct {
			Self      string `json:"self"`
			Instances []struct {
				ID string `json:"id"`
			} `json:"instances"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
			t.Fatalf("instance %s: GET /v1/cluster/instances: %d %s", name, code, body)
		}
		var ids []string
		for _, in := range reply.Instances {
			ids = append(ids, in.ID)
		}
		if reply.Self != name || strings.Join(ids, ",") != "a,b,c" {
			t.Fatalf("instance %s: self %q, instances %v: %s", name, reply.Self, ids, body)
		}
	}
	c := r.startPyClient(t, "alice", "alice-demo", clusterClient)
	local := r.connectTo(t, c, "c")
	addr := net.JoinHostPort(clusterClient, local)
	code, body := adminDo(t, "GET", r.inst["a"].admin+"/v1/sessions", clusterAdminToken, nil)
	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Address string `json:"address"`
		} `json:"sessions"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("GET /v1/sessions through a: %d %s", code, body)
	}
	id := ""
	for _, s := range list.Sessions {
		if s.Address == addr {
			id = s.ID
		}
	}
	if id == "" {
		t.Fatalf("a does not list c's session from %s: %s", addr, body)
	}
	if code, body := adminDo(t, "DELETE", r.inst["a"].admin+"/v1/sessions/"+url.PathEscape(id), clusterAdminToken, nil); code != http.StatusOK {
		t.Fatalf("DELETE /v1/sessions/%s through a: %d %s", id, code, body)
	}
	if a := c.do("noop"); len(a) < 3 || a[0] != "err" || a[2] != "421" {
		t.Fatalf("the ended session's next command: %v", a)
	}
}
