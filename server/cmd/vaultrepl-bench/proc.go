package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every server the bench measures is a separate process running the real
// vaultrepl-server binary, so its CPU time (from /proc/<pid>/stat) is the
// server's alone and the load generator does not share its scheduler.

const (
	// startLimit bounds a server's start-up until its banner and health answer.
	startLimit = 30 * time.Second
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
	// 100 on every Linux ABI Go supports.
	clockTicks = 100
)

// serverProc is one running vaultrepl-server.
type serverProc struct {
	name    string
	cmd     *exec.Cmd
	out     *lockedBuffer // stdout and stderr, for the banner and for errors
	done    chan struct{}
	exitErr error

	apiAddr string // http://127.0.0.1:port, from the dev banner
	dbPath  string
	devKey  []byte // the dev unseal key, from the banner
}

// serverArgs are the flags of every measured server: a dev cluster
// (initialised, unsealed, KV v1 at secret/) with root token "root" on its own
// database file with the given sync mode, on ephemeral loopback ports.
func serverArgs(db, syncMode string, heartbeat time.Duration) []string {
	return []string{
		"-dev", "-dev-root-token-id", replRootToken,
		"-listen-address", "127.0.0.1:0",
		"-cluster-listen-address", "127.0.0.1:0",
		"-db", db,
		"-sync", syncMode,
		"-log-level", "warn", // problems only; per-request logs would cost throughput
		"-heartbeat-interval", heartbeat.String(),
	}
}

// profileEnv names the file vaultrepl-server writes a CPU profile of its
// whole run to (see server/cmd/vaultrepl-server).
const profileEnv = "VAULTREPL_CPUPROFILE"

// startServer runs o.serverBin with serverArgs, and env added to this
// process's environment, and waits until it printed its dev banner and
// answers sys/health. Call stop on the result.
func startServer(ctx context.Context, o options, name, db, syncMode string, heartbeat time.Duration, env []string) (*serverProc, error) {
	p := &serverProc{name: name, dbPath: db, out: &lockedBuffer{}, done: make(chan struct{})}
	// Not CommandContext: an interrupt must still stop the server with
	// SIGTERM and a bounded wait (stop), not leave it to a SIGKILL.
	p.cmd = exec.Command(o.serverBin, serverArgs(db, syncMode, heartbeat)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, o.serverBin, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitBanner(ctx); err != nil {
		_ = p.stop()
		return nil, err
	}
	if err := waitHealthy(ctx, p.apiAddr, p.done); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, p.out.String())
	}
	return p, nil
}

// waitBanner polls the output until the dev banner gave the API address and
// the unseal key.
func (p *serverProc) waitBanner(ctx context.Context) error {
	deadline := time.Now().Add(startLimit)
	for {
		api, key, ok := parseBanner(p.out.String())
		if ok {
			k, err := hex.DecodeString(key)
			if err != nil {
				return fmt.Errorf("%s: unseal key in the banner is not hex: %w", p.name, err)
			}
			p.apiAddr, p.devKey = api, k
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, p.exitErr, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s printed no dev banner within %s:\n%s", p.name, startLimit, p.out.String())
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// parseBanner reads "API address:" and "Unseal Key:" from the dev banner.
func parseBanner(out string) (api, key string, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, found := strings.CutPrefix(line, "API address:"); found {
			api = strings.TrimSpace(v)
		}
		if v, found := strings.CutPrefix(line, "Unseal Key:"); found {
			key = strings.TrimSpace(v)
		}
	}
	return api, key, api != "" && key != ""
}

// waitHealthy polls addr's sys/health until it answers (any status: a
// sealed or standby server answers too), exited closes, or startLimit.
func waitHealthy(ctx context.Context, addr string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(startLimit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/sys/health", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before it answered sys/health")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from sys/health within %s: %w", startLimit, err)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// stop sends SIGTERM and waits up to shutdownTimeout, then kills. It returns
// an error when the server did not exit cleanly.
func (p *serverProc) stop() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.exitErr != nil {
			return fmt.Errorf("%s exited with %w:\n%s", p.name, p.exitErr, tail(p.out.String(), 2000))
		}
		return nil
	case <-time.After(shutdownTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM (killed)", p.name, shutdownTimeout)
	}
}

// procCPU reads utime and stime (fields 14 and 15) of /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.utime + st.stime, nil
}

// procStat is the part of /proc/<pid>/stat the bench uses.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime time.Duration
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing one.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:]))
	// After ")" come field 3 (state) onwards: ppid is field 4, index 1;
	// utime, stime, cutime, cstime are fields 14-17, index 11-14.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	var t [4]uint64
	for k := range t {
		if t[k], err = strconv.ParseUint(f[11+k], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
	}
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return procStat{ppid: ppid, utime: tick(t[0]), stime: tick(t[1]), cutime: tick(t[2]), cstime: tick(t[3])}, nil
}

// childrenCPU is the CPU time of process pid, of its live children, and
// of its exited children it reaped (cutime, cstime): every PostgreSQL
// process is a child of the postmaster (each calls setsid, so the process
// group does not hold them), and the postmaster reaps its backends, so one
// that ends during the window is still counted.
func childrenCPU(pid int) (time.Duration, error) {
	leader, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	total := leader.utime + leader.stime + leader.cutime + leader.cstime
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil || child == pid {
			continue
		}
		st, err := readStat(child)
		if err != nil || st.ppid != pid {
			continue // gone since the listing, or not a child
		}
		total += st.utime + st.stime
	}
	return total, nil
}

// cpuMeter measures one process's CPU over a window.
type cpuMeter struct {
	pid      int
	children bool // pid and its children (childrenCPU)
	start    time.Duration
	err      error
}

func startCPU(pid int) *cpuMeter {
	start, err := procCPU(pid)
	return &cpuMeter{pid: pid, start: start, err: err}
}

// startChildrenCPU measures pid and its children (childrenCPU) over a
// window.
func startChildrenCPU(pid int) *cpuMeter {
	start, err := childrenCPU(pid)
	return &cpuMeter{pid: pid, children: true, start: start, err: err}
}

// used is the CPU time since startCPU.
func (m *cpuMeter) used() (time.Duration, error) {
	if m.err != nil {
		return 0, m.err
	}
	read := procCPU
	if m.children {
		read = childrenCPU
	}
	end, err := read(m.pid)
	if err != nil {
		return 0, err
	}
	return end - m.start, nil
}

// buildServer builds vaultrepl-server into dir with `go build` and returns
// the binary's path; used when -server-bin is not given.
func buildServer(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "vaultrepl-server")
	_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: building vaultrepl-server into %s (give -server-bin to skip)\n", dir)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/vaultrepl/terraform-provider-vaultrepl/server/cmd/vaultrepl-server")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build vaultrepl-server: %w", err)
	}
	return bin, nil
}

// lockedBuffer collects a process's output from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Bounded: a server logging in a loop must not fill the bench's memory.
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
