package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A test binary that uses PostgreSQL starts one throwaway server the first
// time a test asks for a database (initdb and postgres from `pg_config
// --bindir`, as the postgres system user when running as root, since
// PostgreSQL refuses to run as root), gives each test its own database, and
// stops and removes the server in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

// Postgres is the throwaway PostgreSQL server of one test binary.
type Postgres struct {
	dir    string // owned by the server's user; data/ and the log inside
	bindir string
	Port   int
	asUser string // "" when the test already runs as a non-root user
	cred   *syscall.Credential
	cmd    *exec.Cmd // the postmaster, a child of the test binary
	exited chan struct{}
}

var pgServer struct {
	mu      sync.Mutex
	pg      *Postgres
	err     error
	stopped bool
}

// RunWithPostgres runs the tests and stops the PostgreSQL server they
// started, if any. Use it as TestMain's body.
func RunWithPostgres(m *testing.M) int {
	code := m.Run()
	pgServer.mu.Lock()
	defer pgServer.mu.Unlock()
	pgServer.stopped = true
	if pgServer.pg != nil {
		if err := pgServer.pg.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop postgresql:", err)
			if code == 0 {
				code = 1
			}
		}
		pgServer.pg = nil
	}
	return code
}

// PostgresURL creates a fresh database for this test on the test binary's
// PostgreSQL server (starting it on first use) and returns its connection
// URL. The database is dropped when the test ends. The package's TestMain
// must call RunWithPostgres, which stops the server.
func PostgresURL(t testing.TB) string {
	t.Helper()
	pg := sharedPostgres(t)
	name := "t_" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return pg.url(name)
}

func sharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	pgServer.mu.Lock()
	defer pgServer.mu.Unlock()
	if pgServer.stopped {
		t.Fatal("postgresql: asked for after RunWithPostgres stopped it")
	}
	if pgServer.pg == nil && pgServer.err == nil {
		pgServer.pg, pgServer.err = startPostgres(FreePort(t), false)
	}
	if pgServer.err != nil {
		t.Fatalf("start postgresql (TestMain must use testserver.RunWithPostgres; `make postgres` installs it): %v", pgServer.err)
	}
	return pgServer.pg
}

func (pg *Postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// exec runs one statement in the maintenance database.
func (pg *Postgres) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, pg.url("postgres"))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// StartPostgres starts a throwaway PostgreSQL for a program that is not a
// test (the benchmark), with fsync on so commits are as durable as in
// production; Stop ends it. Tests use PostgresURL.
func StartPostgres() (*Postgres, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("listener address %v is not TCP", ln.Addr())
	}
	port := addr.Port
	if err := ln.Close(); err != nil {
		return nil, err
	}
	return startPostgres(port, true)
}

// Stop shuts a server from StartPostgres down and removes its folder.
func (pg *Postgres) Stop() error { return pg.stop() }

// Pid is the postmaster's process id: every other PostgreSQL process is
// its child (the benchmark measures PostgreSQL's CPU that way).
func (pg *Postgres) Pid() int { return pg.cmd.Process.Pid }

// CreateDatabase creates a database and returns its connection URL.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	if err := pg.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return pg.url(name), nil
}

// startPostgres creates a cluster in a new temporary folder and starts it
// on 127.0.0.1:port with trust authentication for loopback TCP only; with
// durable false, fsync is off (tests: faster, and a throwaway server
// never outlives a crash).
func startPostgres(port int, durable bool) (*Postgres, error) {
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err != nil {
		return nil, fmt.Errorf("pg_config --bindir (is postgresql installed?): %w", err)
	}
	pg := &Postgres{bindir: strings.TrimSpace(string(out)), Port: port}
	if os.Geteuid() == 0 {
		pg.asUser = "postgres"
	}
	if pg.dir, err = os.MkdirTemp("", "vaultrepl-pg-"); err != nil {
		return nil, err
	}
	if err := pg.own(); err != nil {
		_ = os.RemoveAll(pg.dir)
		return nil, err
	}
	data := filepath.Join(pg.dir, "data")
	if err := pg.run(2*time.Minute, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		_ = os.RemoveAll(pg.dir)
		return nil, err
	}
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nmax_connections = 200\n", port, pg.dir)
	if !durable {
		conf += "fsync = off\nfull_page_writes = off\n"
	}
	hba := "host all all 127.0.0.1/32 trust\n"
	if err := pg.appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		_ = os.RemoveAll(pg.dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		_ = os.RemoveAll(pg.dir)
		return nil, err
	}
	if err := pg.startPostmaster(data); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		_ = os.RemoveAll(pg.dir)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return pg, nil
}

// startPostmaster runs the server in the foreground as a child of the test
// binary, as the server's user, with SIGQUIT (PostgreSQL's immediate
// shutdown) as its parent-death signal: a test binary killed before
// TestMain's cleanup (a timeout, a ^C) does not leave it running. It
// returns once the server accepts connections.
func (pg *Postgres) startPostmaster(data string) error {
	logFile, err := os.OpenFile(filepath.Join(pg.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	pg.cmd = exec.Command(filepath.Join(pg.bindir, "postgres"), "-D", data)
	pg.cmd.Dir = pg.dir
	pg.cmd.Stdout, pg.cmd.Stderr = logFile, logFile
	pg.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := pg.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	pg.exited = make(chan struct{})
	go func() {
		_ = pg.cmd.Wait()
		close(pg.exited)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := pg.exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-pg.exited:
			return fmt.Errorf("postgres exited during start-up: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			_ = pg.cmd.Process.Kill()
			<-pg.exited
			return fmt.Errorf("postgres not accepting connections after a minute: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of a bounded wait
	}
}

// own gives the folder to the server's user: the data folder must belong
// to the user PostgreSQL runs as.
func (pg *Postgres) own() error {
	if pg.asUser == "" {
		return os.Chmod(pg.dir, 0o700)
	}
	u, err := user.Lookup(pg.asUser)
	if err != nil {
		return fmt.Errorf("postgresql runs as %s: %w", pg.asUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)} //nolint:gosec // ids from /etc/passwd
	if err := os.Chown(pg.dir, uid, gid); err != nil {
		return err
	}
	return os.Chmod(pg.dir, 0o700)
}

func (pg *Postgres) appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}

// run runs one of PostgreSQL's programs as the server's user.
func (pg *Postgres) run(limit time.Duration, program string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	path := filepath.Join(pg.bindir, program)
	var cmd *exec.Cmd
	if pg.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pg.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = pg.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", program, err, out)
	}
	return nil
}

// stop shuts the server down at once (SIGQUIT, the immediate mode) and
// removes its folder.
func (pg *Postgres) stop() error {
	var err error
	_ = pg.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-pg.exited:
	case <-time.After(30 * time.Second):
		_ = pg.cmd.Process.Kill()
		<-pg.exited
		err = errors.New("postgres did not stop within 30s of SIGQUIT")
	}
	return errors.Join(err, os.RemoveAll(pg.dir))
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// PostgresStorage is the storage "postgresql" block Start writes for a
// server. Every node of one HA cluster gets the same URL and prefix.
type PostgresStorage struct {
	URL         string // from PostgresURL
	TablePrefix string
	HA          bool
	// LockTTL and LockRenewInterval: "" keeps the server's defaults.
	LockTTL, LockRenewInterval string
}

func (p *PostgresStorage) configFile(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "storage \"postgresql\" {\n  connection_url = %q\n  table_prefix = %q\n  ha_enabled = \"%t\"\n", p.URL, p.TablePrefix, p.HA)
	if p.LockTTL != "" {
		fmt.Fprintf(&b, "  lock_ttl = %q\n", p.LockTTL)
	}
	if p.LockRenewInterval != "" {
		fmt.Fprintf(&b, "  lock_renew_interval = %q\n", p.LockRenewInterval)
	}
	b.WriteString("}\n")
	path := filepath.Join(t.TempDir(), "storage.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Storage engines a test suite can run on.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgresql"
)

// StorageEngine is the engine servers started without an explicit DB or
// Postgres option use: VAULTREPL_TEST_STORAGE=postgresql runs a whole
// suite (e.g. server/drtest) on PostgreSQL, one database per server; the
// default is SQLite. The package's TestMain must use RunWithPostgres.
func StorageEngine() string {
	if strings.EqualFold(os.Getenv("VAULTREPL_TEST_STORAGE"), EnginePostgres) {
		return EnginePostgres
	}
	return EngineSQLite
}

// copyPostgresDatabase creates a new database of the test binary's server
// as a copy of the one url names (CREATE DATABASE … TEMPLATE: nobody may be
// connected to it, so stop its servers first) and returns the copy's URL.
// The copy is dropped when the test ends.
func copyPostgresDatabase(t testing.TB, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatalf("copy database: %v", err)
	}
	pg := sharedPostgres(t)
	name := "t_" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+pgx.Identifier{cfg.Database}.Sanitize()); err != nil {
		t.Fatalf("copy database %s: %v", cfg.Database, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return pg.url(name)
}
