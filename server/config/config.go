// Package config turns vaultrepl-server's command line and optional HCL config
// file into a validated Config. It is kept free of side effects (besides
// reading the -config file) so every rule can be unit tested without
// starting a server.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the complete, validated server configuration. Derived values
// (ClusterListenAddress, APIAddr, ClusterAddr) are always filled in.
type Config struct {
	ListenAddress        string // API listener, host:port
	ClusterListenAddress string // replication listener, host:port
	APIAddr              string // advertised API URL
	ClusterAddr          string // advertised cluster URL

	DBPath string // SQLite file; empty with Postgres, or with Dev (caller picks a temporary folder)
	Sync   string // synchronous mode: "full" | "normal"
	// Postgres, when set, keeps the cluster in PostgreSQL instead of a
	// SQLite file (storage "postgresql" in the config file).
	Postgres *Postgres

	TLSCertFile string // both set or both empty (plain HTTP)
	TLSKeyFile  string

	LogLevel  slog.Level
	LogFormat string // "text" | "json"

	Dev            bool
	DevRootTokenID string // secret-ish: only set with Dev; empty = caller generates one
	// DevKVv2 mounts secret/ as KV version 2 in dev mode, Vault's dev layout.
	DevKVv2 bool

	HeartbeatInterval time.Duration
	// WALRetainCount and WALRetainAge bound a primary's WAL; a secondary
	// that falls further behind catches up with a merkle sync.
	WALRetainCount uint64
	WALRetainAge   time.Duration

	// Listener limits (Vault's listener keys, see listener.go). Zero means
	// none, as in Vault; Parse fills in the defaults, so only callers that
	// build a Config by hand get zero values.
	HTTPReadHeaderTimeout time.Duration // both listeners
	HTTPReadTimeout       time.Duration // API listener: headers and body
	HTTPIdleTimeout       time.Duration // both listeners: keep-alive wait
	HTTPWriteTimeout      time.Duration // API listener only: replication streams must not be cut
	MaxConnections        int           // API listener: open connections at once

	// AllowInsecureDBPermissions lets the server open a database file that
	// group or others may read or write (see storage.Options).
	AllowInsecureDBPermissions bool
}

// Postgres is a storage "postgresql" block.
type Postgres struct {
	// ConnectionURL holds the password, if any: never log or echo it.
	// VAULT_PG_CONNECTION_URL overrides it, as in Vault.
	ConnectionURL string
	TablePrefix   string
	MaxParallel   int
	// HAEnabled makes the nodes sharing the database one HA cluster.
	HAEnabled bool
	// LockTTL is how long the active node's lease lasts without renewal
	// (the takeover time after a crash); LockRenewInterval how often the
	// active node renews it.
	LockTTL           time.Duration
	LockRenewInterval time.Duration
}

// Defaults of the HA lock: a crashed active node is replaced within
// DefaultLockTTL (plus one standby poll).
const (
	DefaultLockTTL           = 8 * time.Second
	DefaultLockRenewInterval = 2 * time.Second
	pgConnectionURLEnv       = "VAULT_PG_CONNECTION_URL"
)

// Defaults. Constants, so there is no package-level mutable state.
const (
	defaultListenAddress     = "127.0.0.1:8200"
	defaultSync              = "full"
	defaultLogLevel          = "info"
	defaultLogFormat         = "text"
	defaultHeartbeatInterval = time.Second

	// devRootTokenEnv mirrors `vault server -dev`, so scripts written for
	// Vault's dev server work unchanged.
	devRootTokenEnv = "VAULT_DEV_ROOT_TOKEN_ID"
)

// flagValues receives the parsed flags; one instance per Parse call.
type flagValues struct {
	listenAddress, clusterListenAddress string
	apiAddr, clusterAddr                string
	db, sync                            string
	tlsCertFile, tlsKeyFile             string
	logLevel, logFormat                 string
	dev                                 bool
	devRootTokenID                      string
	devKVv2                             bool
	heartbeatInterval                   time.Duration
	walRetainCount                      uint64
	walRetainAge                        time.Duration
	listener                            listenerFlags
	allowInsecureDBPermissions          bool
	configFile                          onceString
}

// onceString is a string flag that may be given only once. -config is
// repeatable in Vault (configs are merged); here a second -config is an
// error rather than a silent "last one wins".
type onceString struct {
	v   string
	set bool
}

func (o *onceString) String() string { return o.v }

func (o *onceString) Set(s string) error {
	if o.set {
		return errors.New("given more than once; only one config file is supported")
	}
	o.v, o.set = s, true
	return nil
}

// newFlagSet defines every flag. Parse and Usage both use it, so the help
// text always matches what is accepted.
func newFlagSet(fv *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("vaultrepl-server", flag.ContinueOnError)
	// Errors are returned to the caller, which decides how to print them.
	fs.SetOutput(io.Discard)

	fs.StringVar(&fv.listenAddress, "listen-address", defaultListenAddress,
		"API listener `host:port`")
	fs.StringVar(&fv.clusterListenAddress, "cluster-listen-address", "",
		"cluster (replication) listener `host:port` (default: API port + 1 on the same host)")
	fs.StringVar(&fv.apiAddr, "api-addr", "",
		"advertised API `URL` (default: http://<listen-address>, https when TLS is configured)")
	fs.StringVar(&fv.clusterAddr, "cluster-addr", "",
		"advertised cluster `URL` (default: https://<cluster-listen-address>)")
	fs.StringVar(&fv.db, "db", "",
		"`path` of the SQLite database file (required unless -dev)")
	fs.StringVar(&fv.sync, "sync", defaultSync,
		"SQLite synchronous `mode`: full or normal")
	fs.StringVar(&fv.tlsCertFile, "tls-cert-file", "",
		"PEM certificate `file` for TLS on the API listener (with -tls-key-file; plain HTTP without)")
	fs.StringVar(&fv.tlsKeyFile, "tls-key-file", "",
		"PEM private key `file` for TLS on the API listener (with -tls-cert-file)")
	fs.StringVar(&fv.logLevel, "log-level", defaultLogLevel,
		"log `level`: trace, debug, info, warn or error")
	fs.StringVar(&fv.logFormat, "log-format", defaultLogFormat,
		"log `format`: text or json")
	fs.BoolVar(&fv.dev, "dev", false,
		"development mode: -db optional (a temporary folder is used when empty)")
	fs.StringVar(&fv.devRootTokenID, "dev-root-token-id", "",
		"root token `id` in -dev mode (default: $"+devRootTokenEnv+", else generated)")
	fs.BoolVar(&fv.devKVv2, "dev-kv-v2", false,
		"with -dev: mount secret/ as KV version 2, as `vault server -dev` does (default: KV version 1)")
	fs.DurationVar(&fv.heartbeatInterval, "heartbeat-interval", defaultHeartbeatInterval,
		"replication heartbeat `interval`")
	fs.Uint64Var(&fv.walRetainCount, "wal-retain-count", 100000,
		"newest WAL `entries` a primary keeps for secondaries that fall behind")
	fs.DurationVar(&fv.walRetainAge, "wal-retain-age", 24*time.Hour,
		"WAL entries younger than this `age` are kept")
	defineListenerFlags(fs, &fv.listener)
	fs.BoolVar(&fv.allowInsecureDBPermissions, "allow-insecure-db-permissions", false,
		"open a database file that group or others may read or write (refused by default: it holds every secret)")
	fs.Var(&fv.configFile, "config",
		"HCL config `file` (Vault's shape: listener \"tcp\", storage \"sqlite\", api_addr, ...); flags override it")
	return fs
}

const usageHeader = `Usage:
  vaultrepl-server -listen-address 127.0.0.1:8200 -db ./data/cluster.db [flags]
  vaultrepl-server -dev [-dev-root-token-id ID] [flags]

Serves HashiCorp Vault's HTTP API from a SQLite database.
Precedence: flags given on the command line > -config file > defaults.

Flags:
`

// Usage returns the help text printed for -h.
func Usage() string {
	var fv flagValues
	fs := newFlagSet(&fv)
	var b strings.Builder
	b.WriteString(usageHeader)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// Parse builds a Config from args (without the program name) and the
// environment. getenv is normally os.Getenv; nil means an empty environment.
// -h/-help returns flag.ErrHelp unwrapped; print Usage() then.
//
// Precedence per setting: a flag given on the command line, then the -config
// file, then the default. Derived defaults are computed after merging, so a
// listen address from the file also moves the derived cluster address.
func Parse(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}

	var fv flagValues
	fs := newFlagSet(&fv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w (run with -h for usage)", err)
	}
	if fs.NArg() > 0 {
		// The arguments are not echoed: a stray one may be a token meant for
		// -dev-root-token-id. The hint covers the usual cause, `-dev false`.
		return nil, fmt.Errorf("command line: %d unexpected argument(s) after the flags; every setting is a flag (write booleans as -dev=false, not -dev false)", fs.NArg())
	}
	explicit := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	var fc fileConfig
	if path := fv.configFile.v; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read -config file: %w", err)
		}
		if fc, err = parseFile(path, data); err != nil {
			return nil, err
		}
	}

	// pick applies the precedence. A flag left at its default still names
	// the flag as the source, so errors tell the user what to set.
	pick := func(flagName, flagVal string, file value) value {
		if explicit[flagName] || !file.set() {
			return value{v: flagVal, src: "-" + flagName}
		}
		return file
	}
	listen := pick("listen-address", fv.listenAddress, fc.ListenAddress)
	clusterListen := pick("cluster-listen-address", fv.clusterListenAddress, fc.ClusterListenAddress)
	apiAddr := pick("api-addr", fv.apiAddr, fc.APIAddr)
	clusterAddr := pick("cluster-addr", fv.clusterAddr, fc.ClusterAddr)
	db := pick("db", fv.db, fc.DBPath)
	syncMode := pick("sync", fv.sync, fc.Sync)
	cert := pick("tls-cert-file", fv.tlsCertFile, fc.TLSCertFile)
	key := pick("tls-key-file", fv.tlsKeyFile, fc.TLSKeyFile)
	logLevel := pick("log-level", fv.logLevel, fc.LogLevel)
	logFormat := pick("log-format", fv.logFormat, fc.LogFormat)

	cfg := &Config{
		DBPath:            db.v,
		TLSCertFile:       cert.v,
		TLSKeyFile:        key.v,
		Dev:               fv.dev,
		DevKVv2:           fv.devKVv2,
		HeartbeatInterval: fv.heartbeatInterval,
		WALRetainCount:    fv.walRetainCount,
		WALRetainAge:      fv.walRetainAge,
	}

	// Independent problems are all reported at once, so a user fixing a
	// config does not have to iterate one error at a time.
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	if cfg.DevKVv2 && !cfg.Dev {
		add(errors.New("-dev-kv-v2 only applies with -dev: on other servers run `vault secrets disable secret && vault secrets enable -path=secret -version=2 kv`"))
	}
	if fc.Postgres != nil {
		var err error
		cfg.Postgres, err = parsePostgres(fc.Postgres, getenv)
		add(err)
		if explicit["db"] || fc.DBPath.set() {
			add(fmt.Errorf("%s and storage \"postgresql\" (%s) both name a database: use one", db.src, fc.Postgres.At))
		}
		if cfg.Dev {
			add(errors.New("-dev keeps its data in a temporary SQLite file: remove storage \"postgresql\" or -dev"))
		}
	}
	if !cfg.Dev && cfg.DBPath == "" && fc.Postgres == nil {
		add(errors.New("-db is required (path of the SQLite file), or use -dev or a storage \"postgresql\" block"))
	}

	var err error
	if cfg.Sync, err = parseSync(syncMode); err != nil {
		add(err)
	}
	if cfg.LogLevel, err = parseLogLevel(logLevel); err != nil {
		add(err)
	}
	if cfg.LogFormat, err = parseLogFormat(logFormat); err != nil {
		add(err)
	}
	if cfg.WALRetainCount == 0 {
		add(errors.New("-wal-retain-count must be at least 1"))
	}
	if cfg.WALRetainAge <= 0 {
		add(fmt.Errorf("-wal-retain-age must be positive, got %s", cfg.WALRetainAge))
	}
	if cfg.HeartbeatInterval <= 0 {
		add(fmt.Errorf("-heartbeat-interval must be positive, got %s", cfg.HeartbeatInterval))
	}

	tls := false
	switch {
	case cert.v != "" && key.v == "":
		add(fmt.Errorf("%s is set but no TLS key file is: set -tls-key-file too (or neither, for plain HTTP)", cert.src))
	case cert.v == "" && key.v != "":
		add(fmt.Errorf("%s is set but no TLS certificate file is: set -tls-cert-file too (or neither, for plain HTTP)", key.src))
	case cert.v != "" && key.v != "":
		tls = true
	}
	// Vault's tls_disable turns TLS off; together with TLS files the intent
	// is ambiguous, so refuse rather than guess which one the user meant.
	if fc.TLSDisable && (cert.v != "" || key.v != "") {
		add(fmt.Errorf("%s = true conflicts with the TLS certificate/key files (%s, %s): remove tls_disable or the TLS files", fc.TLSDisableSrc, cert.src, key.src))
	}

	cfg.DevRootTokenID, err = devRootToken(cfg.Dev, explicit["dev-root-token-id"], fv.devRootTokenID, getenv)
	add(err)

	// Addresses: derived values only make sense from a valid listen address.
	listenHost, listenPort, err := splitHostPort(listen)
	add(err)
	if err == nil {
		cfg.ListenAddress = listen.v
		cfg.ClusterListenAddress, err = clusterListenAddress(clusterListen, listen, listenHost, listenPort)
		add(err)

		scheme := "http"
		if tls {
			scheme = "https"
		}
		cfg.APIAddr = scheme + "://" + listen.v
		if apiAddr.v != "" {
			cfg.APIAddr = apiAddr.v
			add(checkURL(apiAddr))
		}
		if cfg.ClusterListenAddress != "" {
			cfg.ClusterAddr = "https://" + cfg.ClusterListenAddress
		}
		if clusterAddr.v != "" {
			cfg.ClusterAddr = clusterAddr.v
			add(checkURL(clusterAddr))
		}
	}

	add(applyListenerLimits(cfg, fv.listener, fc.Listener, explicit))
	cfg.AllowInsecureDBPermissions = fv.allowInsecureDBPermissions
	if !explicit["allow-insecure-db-permissions"] && fc.AllowInsecureDBPermissions.set() {
		cfg.AllowInsecureDBPermissions = fc.AllowInsecureDBPermissions.v == "true"
	}

	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// parsePostgres validates a storage "postgresql" block. The connection URL
// is never part of an error: it may hold a password.
func parsePostgres(pf *postgresFile, getenv func(string) string) (*Postgres, error) {
	pg := &Postgres{
		ConnectionURL:     pf.ConnectionURL.v,
		TablePrefix:       pf.TablePrefix.v,
		HAEnabled:         pf.HAEnabled.v == "true",
		LockTTL:           DefaultLockTTL,
		LockRenewInterval: DefaultLockRenewInterval,
	}
	if env := getenv(pgConnectionURLEnv); env != "" {
		pg.ConnectionURL = env
	}
	var errs []error
	if pg.ConnectionURL == "" {
		errs = append(errs, fmt.Errorf("storage \"postgresql\" (%s) has no connection_url (nor is %s set)", pf.At, pgConnectionURLEnv))
	}
	if pf.MaxParallel.set() {
		n, err := strconv.Atoi(pf.MaxParallel.v)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, fmt.Errorf("%s must be a number from 1 to 1000", pf.MaxParallel.src))
		}
		pg.MaxParallel = n
	}
	for _, d := range []struct {
		v   value
		dst *time.Duration
	}{{pf.LockTTL, &pg.LockTTL}, {pf.LockRenewInterval, &pg.LockRenewInterval}} {
		if !d.v.set() {
			continue
		}
		v, err := time.ParseDuration(d.v.v)
		if err != nil || v < 100*time.Millisecond || v > 10*time.Minute {
			errs = append(errs, fmt.Errorf("%s %q must be a duration from 100ms to 10m", d.v.src, d.v.v))
			continue
		}
		*d.dst = v
	}
	if pg.LockRenewInterval*2 > pg.LockTTL {
		errs = append(errs, fmt.Errorf("storage \"postgresql\" (%s): lock_renew_interval (%s) must be at most half of lock_ttl (%s), so one missed renewal does not lose the lock", pf.At, pg.LockRenewInterval, pg.LockTTL))
	}
	return pg, errors.Join(errs...)
}

// devRootToken resolves the dev root token id: flag, then the environment
// variable Vault uses. It is dropped without -dev so the secret is not
// carried around by a server that will never use it; an explicit flag
// without -dev is an error because it signals a mistaken command line.
// The value itself never appears in an error.
func devRootToken(dev, explicit bool, flagVal string, getenv func(string) string) (string, error) {
	if !dev {
		if explicit {
			return "", errors.New("-dev-root-token-id only applies with -dev: add -dev or remove it")
		}
		return "", nil
	}
	if explicit {
		return flagVal, nil
	}
	return getenv(devRootTokenEnv), nil
}

// splitHostPort validates host:port with a numeric port (0-65535). The port
// must be numeric because the cluster port is derived from it.
func splitHostPort(v value) (string, int, error) {
	if v.v == "" {
		return "", 0, fmt.Errorf("%s is empty: want host:port, e.g. 127.0.0.1:8200", v.src)
	}
	host, portStr, err := net.SplitHostPort(v.v)
	if err != nil {
		return "", 0, fmt.Errorf("invalid %s %q: want host:port, e.g. 127.0.0.1:8200: %w", v.src, v.v, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("invalid %s %q: port must be a number from 0 to 65535", v.src, v.v)
	}
	return host, int(port), nil
}

// clusterListenAddress validates the configured cluster listen address, or
// derives API port + 1 on the API host when none is given. Port 0 (pick any
// free port) derives port 0 too, so tests can ask for two ephemeral ports.
func clusterListenAddress(cl, listen value, host string, port int) (string, error) {
	if cl.v != "" {
		clHost, clPort, err := splitHostPort(cl)
		if err != nil {
			return "", err
		}
		if clPort != 0 && clPort == port && clHost == host {
			return "", fmt.Errorf("%s %q is the same as %s: the API and cluster listeners need different ports", cl.src, cl.v, listen.src)
		}
		return cl.v, nil
	}
	switch {
	case port == 0:
		return net.JoinHostPort(host, "0"), nil
	case port >= 65535:
		return "", fmt.Errorf("cannot derive the cluster listen address from %s %q (port %d has no next port): set -cluster-listen-address", listen.src, listen.v, port)
	default:
		return net.JoinHostPort(host, strconv.Itoa(port+1)), nil
	}
}

// checkURL validates an advertised address: an http or https URL with a host.
func checkURL(v value) error {
	u, err := url.Parse(v.v)
	if err != nil {
		return fmt.Errorf("invalid %s: want an http or https URL such as http://127.0.0.1:8200: %w", v.src, err)
	}
	// Checked before anything echoes the value: user info may hold a
	// password, and an advertised address is handed out to every client.
	if u.User != nil {
		return fmt.Errorf("invalid %s: must not contain user info (user:password@); it is advertised to clients", v.src)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid %s %q: want a URL with http or https scheme and a host, e.g. http://127.0.0.1:8200", v.src, v.v)
	}
	return nil
}

func parseSync(v value) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v.v)); s {
	case "full", "normal":
		return s, nil
	}
	return "", fmt.Errorf("unknown %s %q: want full or normal", v.src, v.v)
}

// parseLogLevel accepts Vault's level names. Vault's "trace" has no slog
// equivalent; it maps to a level below debug so it is still more verbose.
func parseLogLevel(v value) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(v.v)) {
	case "trace":
		return slog.LevelDebug - 4, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "err", "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown %s %q: want trace, debug, info, warn or error", v.src, v.v)
}

// parseLogFormat accepts "standard", Vault's name for the text format, so
// Vault configs carry over.
func parseLogFormat(v value) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v.v)); s {
	case "text", "standard":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", fmt.Errorf("unknown %s %q: want text or json", v.src, v.v)
}
