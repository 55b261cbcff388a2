package replication

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/optoken"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/seal"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Options configure a Manager.
type Options struct {
	// APIAddr and ClusterAddr are this cluster's advertised addresses.
	APIAddr     string
	ClusterAddr string
	// HeartbeatInterval paces heartbeats in both directions (default 1s).
	HeartbeatInterval time.Duration
	// WALRetainCount and WALRetainAge bound the primary's WAL (defaults
	// 100000 entries and 24h). Entries a connected secondary still needs
	// are kept unless it is more than 4×WALRetainCount behind.
	WALRetainCount uint64
	WALRetainAge   time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
	// Data is the keyspace behind the barrier, for what replication keeps
	// that is secret (wrapped activation bundles, DR operation tokens); nil
	// means the store as it is. Keys hands out and adopts the root key
	// (keys.go).
	Data storage.Data
	Keys Keys
	// StartSuspended leaves the role's work stopped until Resume (an HA
	// node starts as a standby; see ha.go).
	StartSuspended bool
	// TokenPrefixes are the token store's keys, which a performance
	// secondary keeps to itself (filter.go); the token store names them.
	TokenPrefixes []string
	// Mounts lists the mount table (where each mount's data lives and
	// whether it is local), for the performance secondaries' views.
	Mounts func(ctx context.Context) ([]MountRef, error)
	// Kind is the replication family this Manager runs (default DR). A
	// cluster runs one Manager of each kind over the same store.
	Kind Kind
	// OwnLocal lists the local keys (exact keys or prefixes) in which a
	// performance secondary keeps what is its own: its tokens, its local
	// mounts and their data. The DR stream carries them to its DR
	// secondaries (carried.go).
	OwnLocal []string
	// OwnKeysToReplicated and OwnKeysToLocal move a cluster's own keys
	// (its tokens, its local mounts) into the keyspace its new performance
	// role keeps them in: the first runs after a performance secondary is
	// promoted, the second before a performance primary is demoted.
	OwnKeysToReplicated func(ctx context.Context) error
	OwnKeysToLocal      func(ctx context.Context) error
}

// Manager owns this cluster's DR role: it serves the control endpoints, the
// cluster port as a primary, and runs the syncer as a secondary.
type Manager struct {
	store   *storage.Store
	data    storage.Data
	seal    *seal.Manager
	OpToken *optoken.Generator
	opts    Options
	kind    Kind
	log     *slog.Logger
	now     func() time.Time

	// transition serialises role changes; mu guards st and the runtime
	// fields below and is never held across I/O.
	transition sync.Mutex
	mu         sync.Mutex
	st         *state

	primary   *primaryRuntime   // non-nil while a primary
	secondary *secondaryRuntime // non-nil while a secondary with a primary

	metrics *Metrics
	// secretsOpen: the DR keys in st are loaded (secrets.go).
	secretsOpen atomic.Bool

	// historyMu serialises read-modify-write of the failover history (the
	// promotion, the first-write watch, heartbeats merging discards).
	historyMu sync.Mutex
	// suspended: an HA standby (ha.go); no syncer, streams or trimming.
	suspended atomic.Bool

	// perfPeer is the performance Manager on this cluster, set on the DR one
	// (SetPeer): its secondaries read the same WAL, so trimming keeps what
	// they need, and they reach it through this cluster port.
	perfPeer atomic.Pointer[Manager]
	// view caches performance secondaries' merkle roots (perfview.go).
	view perfView
	// forwardTo runs forwarded writes on a performance primary; fwd is a
	// performance secondary's client for sending them (forward.go).
	forwardTo atomic.Pointer[http.Handler]
	fwd       forwardClient
	// drPeer is the DR Manager of this cluster, set on the performance
	// one (SetPeer): its DR secondaries' addresses are advertised to the
	// performance secondaries (following.go).
	drPeer atomic.Pointer[Manager]
	// carried caches the digest of the local keys the DR stream carries
	// (carried.go).
	carried carriedCache

	// kits holds a promotion's key material made ahead (promokit.go).
	kits kitCache

	background sync.WaitGroup
	stopCtx    context.Context
	stop       context.CancelFunc
}

// New loads the DR state and, for a secondary with a primary, starts
// following it. Call Close to stop.
func New(ctx context.Context, store *storage.Store, sealer *seal.Manager, opts Options) (*Manager, error) {
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.WALRetainCount == 0 {
		opts.WALRetainCount = 100000
	}
	if opts.WALRetainAge <= 0 {
		opts.WALRetainAge = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Kind == "" {
		opts.Kind = KindDR
	}
	if !opts.Kind.valid() {
		return nil, fmt.Errorf("unknown replication kind %q", opts.Kind)
	}
	st, err := loadState(ctx, store, opts.Kind.stateKey())
	if err != nil {
		return nil, err
	}
	if opts.Data == nil {
		opts.Data = store
	}
	stopCtx, stop := context.WithCancel(context.Background())
	m := &Manager{
		store:   store,
		data:    opts.Data,
		seal:    sealer,
		opts:    opts,
		kind:    opts.Kind,
		log:     opts.Logger,
		now:     opts.Now,
		st:      st,
		metrics: newMetrics(),
		stopCtx: stopCtx,
		stop:    stop,
	}
	if m.kind == KindDR {
		// DR operation tokens and failover evidence are DR's alone:
		// performance secondaries are promoted with ordinary tokens.
		m.OpToken = optoken.New(opts.Data, sealer, nil, opts.Logger)
		m.OpToken.SetScope(func() string {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.st.opTokenScope()
		})
	} else {
		m.log = m.log.With("replication", string(m.kind))
	}
	m.suspended.Store(opts.StartSuspended)
	switch {
	case opts.StartSuspended:
	case st.Mode == ModePrimary:
		if err := m.startPrimaryLocked(st); err != nil {
			stop()
			return nil, err
		}
		if m.kind == KindDR {
			m.resumeFailoverWatch(ctx)
		}
	case st.Mode == ModeSecondary:
		if st.hasPrimary() {
			m.startSecondaryLocked(st)
		}
	}
	if m.kind == KindDR {
		m.watchCarried()
		// One loop trims the shared WAL, for the secondaries of both
		// kinds (SetRetentionPeer).
		m.background.Add(1)
		go m.retentionLoop()
	}
	return m, nil
}

// Close stops the syncer, the streams and background work.
func (m *Manager) Close() {
	m.stop()
	m.stopSecondary()
	m.mu.Lock()
	m.stopPrimaryLocked()
	m.mu.Unlock()
	m.background.Wait()
}

// Mode is the cluster's DR mode as the HTTP layer needs it: "primary",
// "secondary" (also while bootstrapping) or "disabled".
func (m *Manager) Mode() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Mode
}

// Metrics exposes the replication counters.
func (m *Manager) Metrics() *Metrics { return m.metrics }

// snapshot returns a copy of the state for reading without the lock.
func (m *Manager) snapshot() *state {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.clone()
}

// commit persists next (with extra storage ops in the same transaction) and
// makes it current. Callers hold transition.
func (m *Manager) commit(ctx context.Context, next *state, extra ...storage.Op) error {
	op, err := m.stateOp(ctx, next)
	if err != nil {
		return err
	}
	if _, err := m.data.Write(ctx, append(extra, op)...); err != nil {
		return fmt.Errorf("save DR state: %w", err)
	}
	m.mu.Lock()
	m.st = next
	m.mu.Unlock()
	return nil
}

// newEpoch names a new stretch of primary history. It is random, not a
// counter, so two clusters promoted independently never share one.
func newEpoch() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("new epoch: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]) >> 1, nil // fits SQLite's signed integers
}

// ClusterHandler is the cluster port's HTTP handler; the TLS layer in front
// of it admits only this DR set's certificates (see ClusterTLSConfig).
func (m *Manager) ClusterHandler() http.Handler {
	return m.clusterPortHandler()
}

// roleChanged revokes the DR operation tokens and any running generation
// after a mode change. The tokens are already void (bound to the previous
// TokenScope); this removes their records. Callers hold transition.
func (m *Manager) roleChanged(ctx context.Context, what string) {
	if m.opts.Keys != nil {
		m.opts.Keys.RoleChanged()
	}
	if m.OpToken == nil {
		return
	}
	if err := m.OpToken.RevokeAll(ctx); err != nil {
		m.log.Warn("could not clear DR operation tokens (they are void all the same)", "after", what, "error", err)
	}
}
