// Package node runs one cluster: it opens the database, assembles the core,
// binds the API and cluster listeners and shuts everything down in order.
// The command line and the tests both start servers through it.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/config"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/core"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/ha"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/httpapi"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Node is a running cluster.
type Node struct {
	Core *core.Core

	cfg        config.Config
	log        *slog.Logger
	store      *storage.Store
	elector    *ha.Elector // nil without HA
	api        *http.Server
	clusterSrv *http.Server
	apiLn      net.Listener
	apiServeLn net.Listener // apiLn behind the connection cap and TLS
	cluster    net.Listener
	syncMode   storage.SyncMode
	tempDir    string // removed on shutdown (dev mode without -db)
	wg         sync.WaitGroup

	// DevKey and DevRootToken are set in dev mode only.
	DevKey       []byte
	DevRootToken string
}

// Start binds both listeners, opens the database and serves: Bind, then
// Serve. In dev mode the cluster is initialised with one key share and
// unsealed.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Node, error) {
	n, err := Bind(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	n.Serve()
	return n, nil
}

// Bind does everything Start does except serve: the caller may print what
// it needs (the dev banner) before the first request can be answered. A
// failure leaves nothing behind: listeners and the database are closed, a
// dev mode temporary folder is removed. The TLS files are loaded and the
// ports bound before the database is opened, so a bad file or a port in
// use does not create a database either.
func Bind(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Node, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			if n.Core != nil {
				n.Core.Close()
			}
			_ = n.closeAll() // the start-up error is what the caller needs
		}
	}()
	var apiTLS *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load API TLS certificate %s and key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		apiTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.DBPath == "" && !cfg.Dev && cfg.Postgres == nil {
		return nil, errors.New("no database path: set -db")
	}
	if n.apiLn, err = net.Listen("tcp", cfg.ListenAddress); err != nil {
		return nil, fmt.Errorf("listen for the API on %s: %w", cfg.ListenAddress, err)
	}
	if n.cluster, err = net.Listen("tcp", cfg.ClusterListenAddress); err != nil {
		return nil, fmt.Errorf("listen for replication on %s: %w", cfg.ClusterListenAddress, err)
	}
	n.fixEphemeralAddrs()
	if err := n.open(ctx); err != nil {
		return nil, err
	}
	if cfg.Dev {
		if err := n.initDev(ctx); err != nil {
			return nil, err
		}
	}
	if n.store.HAEnabled() {
		n.elector = n.newElector()
	}
	n.api = n.apiServer()
	n.apiServeLn = limitListener(n.apiLn, cfg.MaxConnections)
	if apiTLS != nil {
		n.apiServeLn = tls.NewListener(n.apiServeLn, apiTLS)
	}
	n.clusterSrv = n.clusterServer()
	return n, nil
}

// open opens the database (in a new temporary folder in dev mode without
// -db) and assembles the core on it.
func (n *Node) open(ctx context.Context) error {
	dbPath := n.cfg.DBPath
	if dbPath == "" && n.cfg.Postgres == nil {
		var err error
		if n.tempDir, err = os.MkdirTemp("", "vaultrepl-dev-"); err != nil {
			return fmt.Errorf("create dev database folder: %w", err)
		}
		dbPath = filepath.Join(n.tempDir, "cluster.db")
	}
	var err error
	if n.syncMode, err = storage.ParseSyncMode(n.cfg.Sync); err != nil {
		return err
	}
	opts := storage.Options{
		Sync: n.syncMode, Logger: n.log, AllowInsecurePermissions: n.cfg.AllowInsecureDBPermissions,
	}
	if pg := n.cfg.Postgres; pg != nil {
		n.store, err = storage.OpenPostgres(ctx, storage.PostgresConfig{
			ConnURL: pg.ConnectionURL, TablePrefix: pg.TablePrefix, MaxConns: int32(pg.MaxParallel), HA: pg.HAEnabled, //nolint:gosec // config bounds it to 1000
			// A node paused inside a commit must not hold the lock row past
			// the lease: the takeover waits for that session to end.
			IdleTxTimeout: min(5*time.Second, pg.LockTTL/2),
		}, opts)
	} else {
		n.store, err = storage.Open(ctx, dbPath, opts)
	}
	if err != nil {
		return err
	}
	n.Core, err = core.New(ctx, n.store, core.Options{Logger: n.log, Replication: replication.Options{
		APIAddr:           n.cfg.APIAddr,
		ClusterAddr:       n.cfg.ClusterAddr,
		HeartbeatInterval: n.cfg.HeartbeatInterval,
		WALRetainCount:    n.cfg.WALRetainCount,
		WALRetainAge:      n.cfg.WALRetainAge,
		Logger:            n.log,
		// An HA node starts as a standby: its DR role waits for the lock.
		StartSuspended: n.store.HAEnabled(),
	}})
	return err
}

// apiServer applies the listener limits (config.Default* documents them).
func (n *Node) apiServer() *http.Server {
	var handler http.Handler
	if n.elector != nil {
		handler = ha.NewForwarder(n.elector, httpapi.New(n.Core).WithHA(n.elector).Handler(), n.standbyForwards)
	} else {
		handler = httpapi.New(n.Core).Handler()
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: n.cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       n.cfg.HTTPReadTimeout,
		WriteTimeout:      n.cfg.HTTPWriteTimeout,
		IdleTimeout:       n.cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
}

// clusterServer serves only mutual TLS: every handshake fails until this
// cluster is a DR primary, and then admits only its secondaries. It gets
// the header and idle timeouts but no read or write timeout: a WAL stream
// is one response that lasts as long as the secondary is connected, and
// the replication code sets its own per-frame write deadlines.
func (n *Node) clusterServer() *http.Server {
	return &http.Server{
		Handler:           n.Core.Repl.ClusterHandler(),
		ReadHeaderTimeout: n.cfg.HTTPReadHeaderTimeout,
		IdleTimeout:       n.cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
}

// newElector prepares this node's part in the HA lock protocol.
func (n *Node) newElector() *ha.Elector {
	host, _ := os.Hostname()
	return ha.New(n.store, ha.Options{
		ID: n.cfg.APIAddr, Hostname: host, APIAddr: n.cfg.APIAddr, ClusterAddr: n.cfg.ClusterAddr,
		TTL: n.cfg.Postgres.LockTTL, RenewInterval: n.cfg.Postgres.LockRenewInterval,
		Eligible: n.standbyForwards, Logger: n.log,
		OnActive: func(ctx context.Context) error {
			// Both replication kinds follow the lock.
			return errors.Join(n.Core.Repl.Resume(ctx), n.Core.Perf.Resume(ctx))
		},
		OnStandby: func() { n.Core.Repl.Suspend(); n.Core.Perf.Suspend() },
	})
}

// standbyForwards reports whether this node takes part in HA: unsealed, or
// in a cluster not initialised yet (so that sys/init can reach the node
// that may write). A sealed node of an initialised cluster neither runs
// for active nor forwards: it answers "sealed", as in Vault.
func (n *Node) standbyForwards(ctx context.Context) bool {
	if !n.Core.Seal.Sealed() {
		return true
	}
	initialized, err := n.Core.Seal.Initialized(ctx)
	return err == nil && !initialized
}

// Serve starts answering on both listeners; it returns at once.
func (n *Node) Serve() {
	if n.elector != nil {
		n.elector.Run()
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.api.Serve(n.apiServeLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("API listener stopped", "error", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.clusterSrv.Serve(tls.NewListener(n.cluster, n.Core.Repl.ClusterTLSConfig())); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("cluster listener stopped", "error", err)
		}
	}()
	n.log.Info("cluster started", "api_addr", n.cfg.APIAddr, "cluster_addr", n.cfg.ClusterAddr, "db", n.DBPath(), "sync", n.syncMode.String())
}

// fixEphemeralAddrs advertises the real ports when port 0 was asked for and
// the advertised addresses were derived from the listen addresses (or not
// given at all, as by callers that build a Config without config.Parse).
func (n *Node) fixEphemeralAddrs() {
	scheme := "http"
	if n.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	if n.cfg.APIAddr == "" || n.cfg.APIAddr == scheme+"://"+n.cfg.ListenAddress {
		n.cfg.APIAddr = scheme + "://" + n.apiLn.Addr().String()
	}
	if n.cfg.ClusterAddr == "" || n.cfg.ClusterAddr == "https://"+n.cfg.ClusterListenAddress {
		n.cfg.ClusterAddr = "https://" + n.cluster.Addr().String()
	}
	n.cfg.ListenAddress = n.apiLn.Addr().String()
	n.cfg.ClusterListenAddress = n.cluster.Addr().String()
}

func (n *Node) initDev(ctx context.Context) error {
	initialized, err := n.Core.Seal.Initialized(ctx)
	if err != nil {
		return err
	}
	if initialized {
		return fmt.Errorf("-dev needs a new database, but %s is already initialised (its unseal key is not kept): remove -dev and unseal it, or point -db at a new file", n.cfg.DBPath)
	}
	res, err := n.Core.Initialize(ctx, 1, 1, n.cfg.DevRootTokenID)
	if err != nil {
		return fmt.Errorf("initialise dev cluster: %w", err)
	}
	if _, err := n.Core.Seal.Unseal(ctx, fmt.Sprintf("%x", res.Keys[0])); err != nil {
		return fmt.Errorf("unseal dev cluster: %w", err)
	}
	n.DevKey, n.DevRootToken = res.Keys[0], res.RootToken
	if n.cfg.DevKVv2 {
		return n.devKVv2(ctx)
	}
	return nil
}

// devKVv2 replaces the empty KV v1 mount at secret/ with a KV v2 one, the
// layout of `vault server -dev`.
func (n *Node) devKVv2(ctx context.Context) error {
	if err := n.Core.Mounts.Disable(ctx, "secret/"); err != nil {
		return fmt.Errorf("dev kv v2: %w", err)
	}
	_, err := n.Core.Mounts.Enable(ctx, mounts.Entry{Path: "secret/", Type: mounts.TypeKV, Description: "key/value secret storage", Options: map[string]string{"version": "2"}})
	if err != nil {
		return fmt.Errorf("dev kv v2: %w", err)
	}
	return nil
}

// APIAddr is the advertised API address (with the real port when 0 was asked).
func (n *Node) APIAddr() string { return n.cfg.APIAddr }

// ClusterAddr is the advertised cluster address.
func (n *Node) ClusterAddr() string { return n.cfg.ClusterAddr }

// DBPath is the database file in use ("postgresql" for that engine: the
// connection URL may hold a password).
func (n *Node) DBPath() string {
	if n.cfg.Postgres != nil {
		return "postgresql"
	}
	if n.tempDir != "" {
		return filepath.Join(n.tempDir, "cluster.db")
	}
	return n.cfg.DBPath
}

// Shutdown lets in-flight requests finish (until ctx ends), then closes the
// listeners and the database.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	if n.api != nil {
		if err := n.api.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop API: %w", err))
		}
	}
	// A clean shutdown hands the HA lock over at once.
	if n.elector != nil {
		if err := n.elector.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release HA lock: %w", err))
		}
	}
	// Replication streams never go idle, so they are cut, not drained.
	if n.Core != nil {
		n.Core.Close()
	}
	if n.clusterSrv != nil {
		_ = n.clusterSrv.Close()
	}
	errs = append(errs, n.closeAll())
	n.wg.Wait()
	n.log.Info("cluster stopped")
	return errors.Join(errs...)
}

func (n *Node) closeAll() error {
	var errs []error
	for _, ln := range []net.Listener{n.apiLn, n.cluster} {
		if ln != nil {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
	}
	if n.tempDir != "" && !strings.Contains(n.tempDir, "..") {
		if err := os.RemoveAll(n.tempDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
