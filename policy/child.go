package policy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// wazero v1.12.0 checks a compile's context only between functions, and
// only with more than one compilation worker; decoding, validation and a
// single function's compilation cannot be interrupted. A compile that must
// be bounded therefore runs in a child process the kernel can limit and
// the parent can kill (see RATIONALE.md, "Compiling in a child process").

// childEnv marks a process started to compile one module; childProtocol
// is its value, bumped whenever the header changes.
const (
	childEnv      = "FTPGATE_POLICY_COMPILE_CHILD"
	childProtocol = "1"
)

// Exit statuses of the child. A Go runtime that runs out of memory exits
// with 2 and says so on stderr.
const (
	childOK      = 0
	childInvalid = 1 // the module does not compile; the reason is on stdout
	childCPU     = 3 // SIGXCPU: the CPU bound was reached
	childSetup   = 4 // the child could not set itself up (not the module's fault)
)

// childHeader is the first line the child reads on stdin; the module's
// bytes follow.
type childHeader struct {
	CacheDir         string `json:"cache_dir"`
	MemoryLimitPages uint32 `json:"memory_limit_pages"`
	MemoryBytes      int64  `json:"memory_bytes"`
	CPUSeconds       uint64 `json:"cpu_seconds"`
	Size             int    `json:"size"`
}

// maxChildHeader bounds the header line; maxChildModule the module the
// child accepts, whatever the header says.
const (
	maxChildHeader = 4 << 10
	maxChildModule = 1 << 30
)

// CompileChildMain runs the policy compiler child when this process was
// started as one, and then exits; otherwise it returns false at once. A
// program that uses Config.ChildCompile must call it first thing in
// main, and a test binary that does first thing in TestMain, because the
// child is a re-exec of os.Executable().
func CompileChildMain() (handled bool) {
	if os.Getenv(childEnv) != childProtocol {
		return false
	}
	os.Exit(childMain(os.Stdin, os.Stdout, os.Stderr))
	return true
}

// childMain reads the header and the module, bounds itself, compiles the
// module into the cache directory and returns the exit status.
func childMain(stdin io.Reader, stdout, stderr io.Writer) int {
	br := bufio.NewReaderSize(stdin, maxChildHeader)
	line, err := br.ReadSlice('\n')
	var h childHeader
	if err == nil {
		err = json.Unmarshal(line, &h)
	}
	if err == nil && (h.Size < 0 || h.Size > maxChildModule || h.CacheDir == "" || h.MemoryBytes <= 0 || h.CPUSeconds == 0) {
		err = errors.New("bad header")
	}
	if err != nil {
		fmt.Fprintln(stderr, "policy compile child: header:", err)
		return childSetup
	}
	if err := limitSelf(h.MemoryBytes, h.CPUSeconds); err != nil {
		fmt.Fprintln(stderr, "policy compile child: limits:", err)
		return childSetup
	}
	wasm := make([]byte, h.Size)
	if _, err := io.ReadFull(br, wasm); err != nil {
		fmt.Fprintln(stderr, "policy compile child: module:", err)
		return childSetup
	}
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(h.CacheDir)
	if err != nil {
		fmt.Fprintln(stderr, "policy compile child: cache:", err)
		return childSetup
	}
	wr := wazero.NewRuntimeWithConfig(ctx, wazeroConfig(h.MemoryLimitPages, cache))
	_, err = wr.CompileModule(experimental.WithCompilationWorkers(ctx, 1), wasm)
	if err != nil {
		_ = json.NewEncoder(stdout).Encode(childResult{Error: err.Error()})
		return childInvalid
	}
	return childOK
}

// childResult is what the child writes on stdout when the module does
// not compile.
type childResult struct {
	Error string `json:"error"`
}

// wazeroConfig is the wazero configuration of every Runtime and every
// child: the two must agree, because the compilation cache is keyed by
// what it sets (WithCloseOnContextDone changes the generated code).
func wazeroConfig(pages uint32, cache wazero.CompilationCache) wazero.RuntimeConfig {
	// Untrusted code: every call must be stoppable by its deadline, which
	// is what WithCloseOnContextDone buys (at the cost of a check on every
	// loop back-edge).
	return wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages).
		WithCompilationCache(cache).
		WithDebugInfoEnabled(true)
}

// childOutputLimit bounds what the parent keeps of a child's stdout and
// of its stderr.
const childOutputLimit = 16 << 10

// compileInChild compiles wasm in a child process under the Runtime's
// bounds, with its compilation cache in dir. nil means the compiled code
// is in dir; a
// *ValidationError means the module does not compile or broke a bound;
// any other error is the host's (the child could not run) or ctx's.
func (r *Runtime) compileInChild(ctx context.Context, tenant, dir string, wasm []byte) error {
	exe, err := selfExecutable()
	if err != nil {
		return fmt.Errorf("policy: compile child: %w", err)
	}
	h := childHeader{CacheDir: dir, MemoryLimitPages: r.cfg.MemoryLimitPages, MemoryBytes: r.cfg.CompileMemory,
		CPUSeconds: uint64((r.cfg.CompileCPU + time.Second - 1) / time.Second), Size: len(wasm)}
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	// A minimal environment: the child needs nothing of the parent's, and
	// must not see its secrets. One P keeps its memory and CPU small.
	cmd.Env = []string{childEnv + "=" + childProtocol, "GOMAXPROCS=1", "GOTRACEBACK=none"}
	cmd.Stdin = io.MultiReader(bytes.NewReader(append(hb, '\n')), bytes.NewReader(wasm))
	stdout, stderr := &cappedBuffer{max: childOutputLimit}, &cappedBuffer{max: childOutputLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("policy: compile child: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if r.testChildStarted != nil {
		r.testChildStarted(tenant)
	}
	timer := time.NewTimer(r.cfg.CompileTimeout)
	defer timer.Stop()
	killed := ""
	select {
	case err = <-done:
	case <-timer.C:
		killed = "time"
	case <-ctx.Done():
		killed = "ctx"
	case <-r.stop:
		killed = "closed"
	}
	if killed != "" {
		_ = cmd.Process.Kill()
		err = <-done
	}
	switch killed {
	case "time":
		return r.overBound(tenant, wasm, "time", stderr.take(), invalid("compilation exceeded its time bound of %v", r.cfg.CompileTimeout))
	case "ctx":
		return ctx.Err()
	case "closed":
		return errClosed
	}
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("policy: compile child: %w", err)
	}
	errText := stderr.take()
	memErr := invalid("compilation exceeded its memory bound of %d MiB", r.cfg.CompileMemory>>20)
	cpuErr := invalid("compilation exceeded its CPU bound of %d s", h.CPUSeconds)
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		// Nobody but the kernel kills the child here: SIGKILL at the
		// hard CPU limit, or the OOM killer.
		if ws.Signal() == syscall.SIGXCPU || ws.Signal() == syscall.SIGKILL {
			return r.overBound(tenant, wasm, "cpu", errText, cpuErr)
		}
		return r.overBound(tenant, wasm, "signal "+ws.Signal().String(), errText, memErr)
	}
	switch code := ee.ExitCode(); {
	case code == childInvalid:
		var res childResult
		if json.Unmarshal(bytes.TrimSpace([]byte(stdout.take())), &res) == nil && res.Error != "" {
			return invalid("compile: %s", res.Error)
		}
		return invalid("compile: failed")
	case code == childCPU:
		return r.overBound(tenant, wasm, "cpu", errText, cpuErr)
	case code == childSetup:
		return fmt.Errorf("policy: compile child could not start: %s", firstLine(errText))
	case isMemoryFailure(errText):
		return r.overBound(tenant, wasm, "memory", errText, memErr)
	default:
		// A crash of the compiler on this module: the module's doing,
		// but its details are the server's business, not the tenant's.
		return r.overBound(tenant, wasm, fmt.Sprintf("exit status %d", code), errText, invalid("compilation failed (the compiler crashed on this module)"))
	}
}

var errClosed = errors.New("policy: runtime closed")

// removeCompileDir removes a compile's private directory, whatever the
// child left in it (a child killed mid-write leaves a *.tmp file).
func (r *Runtime) removeCompileDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		r.cfg.Logger.Warn("policy: cannot remove a compile directory", "path", dir, "err", err)
	}
}

// overBound logs a child that broke a bound or crashed, with what it said,
// and returns err.
func (r *Runtime) overBound(tenant string, wasm []byte, bound, stderr string, err error) error {
	r.cfg.Logger.Warn("policy: compilation stopped", "tenant", tenant, "size", len(wasm), "bound", bound,
		"child", firstLine(stderr))
	return err
}

// isMemoryFailure reports whether a child's stderr tells of an allocation
// that failed under RLIMIT_AS (the Go runtime's or the race detector's).
func isMemoryFailure(s string) bool {
	for _, m := range []string{"out of memory", "cannot allocate memory", "address space", "failed to allocate"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
