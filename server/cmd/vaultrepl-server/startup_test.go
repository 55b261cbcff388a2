package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestStartupFailures: every start-up failure is one line on stderr that
// names the problem, a non-zero exit, no panic, and nothing left behind (no
// temporary folder, no database file where none was).
func TestStartupFailures(t *testing.T) {
	bin := builder.Binary(t)
	initialised := initialisedDB(t, bin)

	type setup struct {
		args []string
		want []string
		// absent must not exist after the failed start.
		absent string
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) setup
	}{
		{"API port in use", func(t *testing.T, dir string) setup {
			busy := holdPort(t)
			db := filepath.Join(dir, "new.db")
			return setup{
				args:   []string{"-listen-address", busy, "-cluster-listen-address", freeAddr(t), "-db", db},
				want:   []string{"listen for the API on " + busy, "address already in use"},
				absent: db,
			}
		}},
		{"cluster port in use", func(t *testing.T, dir string) setup {
			busy := holdPort(t)
			db := filepath.Join(dir, "new.db")
			return setup{
				args:   []string{"-listen-address", freeAddr(t), "-cluster-listen-address", busy, "-db", db},
				want:   []string{"listen for replication on " + busy, "address already in use"},
				absent: db,
			}
		}},
		{"dev mode, API port in use", func(t *testing.T, dir string) setup {
			busy := holdPort(t)
			return setup{
				args: []string{"-dev", "-listen-address", busy, "-cluster-listen-address", freeAddr(t)},
				want: []string{"listen for the API on " + busy},
			}
		}},
		{"missing TLS certificate file", func(t *testing.T, dir string) setup {
			db := filepath.Join(dir, "new.db")
			cert := filepath.Join(dir, "missing-cert.pem")
			return setup{
				args:   listenArgs(t, "-db", db, "-tls-cert-file", cert, "-tls-key-file", filepath.Join(dir, "missing-key.pem")),
				want:   []string{"load API TLS certificate " + cert, "no such file"},
				absent: db,
			}
		}},
		{"unreadable config file", func(t *testing.T, dir string) setup {
			// A folder: unreadable as a file even for root, who reads mode 0000.
			return setup{
				args: listenArgs(t, "-config", dir),
				want: []string{"read -config file", "is a directory"},
			}
		}},
		{"-dev on an initialised database", func(t *testing.T, dir string) setup {
			return setup{
				args: listenArgs(t, "-dev", "-db", initialised),
				want: []string{"-dev needs a new database", initialised, "already initialised"},
			}
		}},
		{"database in a missing folder", func(t *testing.T, dir string) setup {
			missing := filepath.Join(dir, "missing")
			return setup{
				args:   listenArgs(t, "-db", filepath.Join(missing, "cluster.db")),
				want:   []string{"database folder " + missing + " does not exist"},
				absent: missing,
			}
		}},
		{"world-readable database", func(t *testing.T, dir string) setup {
			db := filepath.Join(dir, "open.db")
			if err := os.WriteFile(db, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(db, 0o644); err != nil {
				t.Fatal(err)
			}
			return setup{
				args: listenArgs(t, "-db", db),
				want: []string{db, "mode 0644", "chmod 600", "-allow-insecure-db-permissions"},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // where -dev would put its folder
			s := tt.setup(t, t.TempDir())
			res := testserver.RunToExit(t, bin, 30*time.Second, s.args...)
			if res.Code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			if strings.Count(res.Stderr, "\n") != 1 || !strings.HasSuffix(res.Stderr, "\n") {
				t.Errorf("stderr is not exactly one line:\n%s", res.Stderr)
			}
			for _, bad := range []string{"panic", "goroutine"} {
				if strings.Contains(res.Stderr, bad) {
					t.Errorf("stderr mentions %q:\n%s", bad, res.Stderr)
				}
			}
			for _, want := range s.want {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
				}
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left behind in TMPDIR: %v", left)
			}
			if s.absent != "" {
				if _, err := os.Stat(s.absent); !os.IsNotExist(err) {
					t.Errorf("%s exists after the failed start (%v)", s.absent, err)
				}
			}
		})
	}
}

// TestDevTempFolderRemovedOnShutdown: -dev without -db keeps its database in
// a temporary folder while it runs and removes it on a clean stop.
func TestDevTempFolderRemovedOnShutdown(t *testing.T) {
	bin := builder.Binary(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ports := testserver.FreePorts(t, 2)
	srv := testserver.StartArgs(t, bin, fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "-dev",
		"-listen-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"-cluster-listen-address", fmt.Sprintf("127.0.0.1:%d", ports[1]))
	if left, _ := os.ReadDir(tmp); len(left) != 1 || !strings.HasPrefix(left[0].Name(), "vaultrepl-dev-") {
		t.Fatalf("running dev server's TMPDIR holds %v, want one vaultrepl-dev-* folder", left)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.Output())
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("left behind in TMPDIR after a clean stop: %v", left)
	}
}

// TestDatabasePermissions: the server's database and -wal/-shm are 0600
// whatever the umask of the shell that started it, and an existing
// world-readable database opens when the operator allows it.
func TestDatabasePermissions(t *testing.T) {
	bin := builder.Binary(t)
	srv := testserver.Start(t, bin, testserver.Options{})
	initAndUnseal(t, client(t, srv.Addr, ""))
	for _, p := range []string{srv.DB, srv.DB + "-wal", srv.DB + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", p, perm)
		}
	}

	open := filepath.Join(t.TempDir(), "open.db")
	if err := os.WriteFile(open, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	allowed := testserver.Start(t, bin, testserver.Options{DB: open, Args: []string{"-allow-insecure-db-permissions"}})
	initAndUnseal(t, client(t, allowed.Addr, ""))
}

// initialisedDB returns a database that a server initialised and that is
// now closed.
func initialisedDB(t *testing.T, bin string) string {
	t.Helper()
	srv := testserver.Start(t, bin, testserver.Options{})
	initAndUnseal(t, client(t, srv.Addr, ""))
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, srv.Output())
	}
	return srv.DB
}

// holdPort listens on a loopback port until the test ends and returns it.
func holdPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
}

// listenArgs prepends free loopback listen addresses to args.
func listenArgs(t *testing.T, args ...string) []string {
	t.Helper()
	ports := testserver.FreePorts(t, 2)
	return append([]string{
		"-listen-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"-cluster-listen-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
	}, args...)
}
