// Package testserver builds vaultrepl-server once per test binary and runs
// real server processes on loopback for tests, stopping each one when its
// test ends. It imports nothing from server/, so the provider's tests can
// use it too.
package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builds caches the binary per test process; tests in one package share it.
type builds struct {
	once sync.Once
	path string
	err  error
}

// Builder builds the server binary once. A package's tests share one.
type Builder struct{ b builds }

// Binary returns the path of a freshly built vaultrepl-server.
func (bd *Builder) Binary(t testing.TB) string {
	t.Helper()
	bd.b.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			bd.b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "vaultrepl-test-bin-")
		if err != nil {
			bd.b.err = err
			return
		}
		out := filepath.Join(dir, "vaultrepl-server")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./server/cmd/vaultrepl-server")
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			bd.b.err = fmt.Errorf("build vaultrepl-server: %w\n%s", err, msg)
			return
		}
		bd.b.path = out
	})
	if bd.b.err != nil {
		t.Fatal(bd.b.err)
	}
	return bd.b.path
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find module root: not inside the module")
	}
	return filepath.Dir(gomod), nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct loopback ports that were free a moment ago.
// The listeners are held open together, so the kernel cannot hand out the
// same port twice (it may reuse a port as soon as its listener closes).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ln.Close() }()
		addr, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			t.Fatalf("listener address %v is not TCP", ln.Addr())
		}
		ports = append(ports, addr.Port)
	}
	return ports
}

// Server is one running vaultrepl-server process.
type Server struct {
	t       testing.TB
	binary  string
	args    []string
	Addr    string // http://127.0.0.1:port (https:// with Options.TLSCertFile)
	Cluster string // 127.0.0.1:port
	DB      string
	// Env is added to the process's environment at every (re)start.
	Env []string
	// Postgres is the server's PostgreSQL storage (DB is then unused).
	Postgres *PostgresStorage
	cmd      *exec.Cmd
	out      *LockedBuffer
	done     chan struct{}
	exitErr  error
	roots    *x509.CertPool // trusted for the API when it serves TLS; nil: system roots
}

// Options for Start.
type Options struct {
	DB   string   // database path; default a new file in t.TempDir()
	Args []string // extra flags, e.g. -dev

	// TLSCertFile and TLSKeyFile, when set, serve the API over TLS
	// (-tls-cert-file, -tls-key-file); Addr is then https://. CACertPEM is
	// the CA that WaitReady and HTTPClient trust for it.
	TLSCertFile, TLSKeyFile string
	CACertPEM               []byte

	// Env is added to the process's environment (test hooks).
	Env []string
	// Postgres, when set, keeps the data in PostgreSQL (a storage
	// "postgresql" config file) instead of the SQLite file DB.
	Postgres *PostgresStorage
}

// Start runs a server on fresh loopback ports and waits until its health
// endpoint answers. The process is killed when the test ends.
func Start(t testing.TB, binary string, opts Options) *Server {
	t.Helper()
	// -dev keeps its data in a temporary SQLite file whatever the engine.
	if opts.DB == "" && opts.Postgres == nil && StorageEngine() == EnginePostgres && !slices.Contains(opts.Args, "-dev") {
		opts.Postgres = &PostgresStorage{URL: PostgresURL(t)}
	}
	if opts.DB == "" {
		opts.DB = filepath.Join(t.TempDir(), "cluster.db")
	}
	ports := FreePorts(t, 2)
	api, cluster := ports[0], ports[1]
	scheme := "http"
	if opts.TLSCertFile != "" || opts.TLSKeyFile != "" {
		scheme = "https"
	}
	s := &Server{
		t:        t,
		binary:   binary,
		Addr:     fmt.Sprintf("%s://127.0.0.1:%d", scheme, api),
		Cluster:  fmt.Sprintf("127.0.0.1:%d", cluster),
		DB:       opts.DB,
		Env:      opts.Env,
		Postgres: opts.Postgres,
	}
	if len(opts.CACertPEM) > 0 {
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(opts.CACertPEM) {
			t.Fatal("testserver: Options.CACertPEM holds no PEM certificate")
		}
	}
	s.args = []string{
		"-listen-address", fmt.Sprintf("127.0.0.1:%d", api),
		"-cluster-listen-address", s.Cluster,
		"-log-level", "debug",
	}
	if opts.Postgres != nil {
		s.args = append(s.args, "-config", opts.Postgres.configFile(t))
	} else {
		s.args = append(s.args, "-db", opts.DB)
	}
	if opts.TLSCertFile != "" {
		s.args = append(s.args, "-tls-cert-file", opts.TLSCertFile)
	}
	if opts.TLSKeyFile != "" {
		s.args = append(s.args, "-tls-key-file", opts.TLSKeyFile)
	}
	s.args = append(s.args, opts.Args...)
	s.start()
	t.Cleanup(func() { s.Kill() })
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.out = &LockedBuffer{}
	s.done = make(chan struct{})
	s.cmd = exec.Command(s.binary, s.args...)
	if len(s.Env) > 0 {
		s.cmd.Env = append(os.Environ(), s.Env...)
	}
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) {
		s.exitErr = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	s.WaitReady(30 * time.Second)
}

// WaitReady polls sys/health until the server answers or the time is up.
func (s *Server) WaitReady(limit time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	client := s.HTTPClient()
	client.Timeout = time.Second
	for {
		select {
		case <-s.done:
			s.t.Fatalf("server exited before it was ready: %v\n%s", s.exitErr, s.out.String())
		default:
		}
		resp, err := client.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			_ = resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server not ready after %s: %v\n%s", limit, err, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HTTPClient returns a new client for the API; it trusts Options.CACertPEM
// when one was given (and the system roots otherwise).
func (s *Server) HTTPClient() *http.Client {
	if s.roots == nil {
		return &http.Client{}
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
	}}
}

// Kill sends SIGKILL and waits for the process to end.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Stop sends SIGTERM and waits (bounded) for a clean exit; it returns the
// process's exit error.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.exitErr
	case <-time.After(30 * time.Second):
		s.Kill()
		return errors.New("server did not stop within 30s of SIGTERM")
	}
}

// Restart starts the process again with the same flags and database.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Output is what the process printed so far (stdout and stderr).
func (s *Server) Output() string { return s.out.String() }

// LockedBuffer collects output written from several goroutines (a
// process's stdout and stderr) and can be read while it grows.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartArgs runs a server with exactly args (no flags added) and waits for
// it at addr. For tests of the command line itself.
func StartArgs(t testing.TB, binary, addr string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, binary: binary, Addr: addr, args: args}
	s.start()
	t.Cleanup(func() { s.Kill() })
	return s
}

// PID is the process id of the running server.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// PeakRSS is the process's peak resident set size in bytes, read from the
// VmHWM line of /proc/PID/status (Linux only).
func (s *Server) PeakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
	if err != nil {
		return 0, fmt.Errorf("read process status: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", rest, err)
			}
			return kib << 10, nil
		}
	}
	return 0, errors.New("no VmHWM line in /proc/PID/status")
}
