// Package ha makes the nodes that share one PostgreSQL database one HA
// cluster: each node runs an Elector that competes for the lock row in the
// database; the holder is the active node and the only one whose writes
// commit (storage checks the fencing token in every write transaction).
// The others are standbys: they forward client requests to the active node
// (Forwarder) and take over when its lease runs out or it releases it.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Options configure an Elector.
type Options struct {
	// ID names this node in the lock row and sys/ha-status.
	ID          string
	Hostname    string
	APIAddr     string
	ClusterAddr string
	// TTL is the lease: a crashed active node is replaced after at most
	// TTL + Retry. RenewInterval is how often the active node renews.
	TTL           time.Duration
	RenewInterval time.Duration
	// Retry is how often a standby looks at the lock; it bounds the
	// takeover time after a step-down or a clean shutdown. 0 means 200ms.
	Retry time.Duration
	// Eligible reports whether this node may be active now (Vault: only
	// an unsealed node runs for active; here also a node of a cluster not
	// initialised yet, so that sys/init can write).
	Eligible func(ctx context.Context) bool
	// OnActive runs after this node took the lock and loaded the position,
	// before it serves as active (the node resumes its DR role); an error
	// gives the lock up again. OnStandby runs when it stops being active.
	OnActive  func(ctx context.Context) error
	OnStandby func()
	Logger    *slog.Logger
	Now       func() time.Time
}

// Elector runs the lock protocol for one node.
type Elector struct {
	store *storage.Store
	opts  Options

	stop     chan struct{}
	done     chan struct{}
	stepDown chan chan error
	started  sync.Once
	running  bool // set by Run, read by Close (both from the node's start/stop path)

	mu          sync.Mutex
	token       int64     // our fencing token while active, else 0
	activeSince time.Time // when this node last became active
	lastRenew   time.Time // last successful renewal (our clock)
	holdOff     time.Time // no new attempt before this (after a step-down)
}

// New returns an elector; Run starts it.
func New(store *storage.Store, opts Options) *Elector {
	if opts.Retry <= 0 {
		opts.Retry = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Eligible == nil {
		opts.Eligible = func(context.Context) bool { return true }
	}
	if opts.OnActive == nil {
		opts.OnActive = func(context.Context) error { return nil }
	}
	if opts.OnStandby == nil {
		opts.OnStandby = func() {}
	}
	return &Elector{store: store, opts: opts, stop: make(chan struct{}), done: make(chan struct{}), stepDown: make(chan chan error)}
}

// Run competes for the lock until Close.
func (e *Elector) Run() {
	e.started.Do(func() {
		e.running = true
		go e.loop()
	})
}

func (e *Elector) loop() {
	defer close(e.done)
	ticker := time.NewTicker(e.opts.Retry)
	defer ticker.Stop()
	nextRenew := time.Time{}
	for {
		select {
		case <-e.stop:
			return
		case reply := <-e.stepDown:
			reply <- e.release(e.opts.Retry * 5)
			continue
		case <-ticker.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.RenewInterval)
		e.announce(ctx)
		if e.Active() {
			if now := e.opts.Now(); now.After(nextRenew) {
				e.renew(ctx)
				nextRenew = now.Add(e.opts.RenewInterval)
			}
			if e.Active() && !e.opts.Eligible(ctx) {
				e.opts.Logger.Info("HA: active node sealed, releasing the lock")
				_ = e.release(0)
			}
		} else if e.opts.Eligible(ctx) && e.opts.Now().After(e.holdOff) {
			if e.tryAcquire(ctx) {
				nextRenew = e.opts.Now().Add(e.opts.RenewInterval)
			}
		}
		cancel()
	}
}

func (e *Elector) announce(ctx context.Context) {
	if err := e.store.AnnounceNode(ctx, storage.HANode{ID: e.opts.ID, Hostname: e.opts.Hostname, APIAddr: e.opts.APIAddr, ClusterAddr: e.opts.ClusterAddr}); err != nil {
		e.opts.Logger.Warn("HA: announce failed", "error", err)
	}
}

func (e *Elector) tryAcquire(ctx context.Context) bool {
	token, ok, err := e.store.TryLock(ctx, e.opts.ID, e.opts.APIAddr, e.opts.ClusterAddr, e.opts.TTL)
	if err != nil {
		e.opts.Logger.Warn("HA: lock attempt failed", "error", err)
		return false
	}
	if !ok {
		return false
	}
	if err := e.store.Activate(ctx, token); err != nil {
		e.opts.Logger.Error("HA: took the lock but could not load the position; releasing it", "error", err)
		_ = e.store.ReleaseLock(context.Background(), token)
		return false
	}
	if err := e.opts.OnActive(ctx); err != nil {
		e.opts.Logger.Error("HA: took the lock but could not resume; releasing it", "error", err)
		_ = e.store.ReleaseLock(context.Background(), token)
		e.opts.OnStandby()
		return false
	}
	now := e.opts.Now()
	e.mu.Lock()
	e.token, e.activeSince, e.lastRenew = token, now, now
	e.mu.Unlock()
	e.opts.Logger.Info("HA: this node is now active", "token", token)
	return true
}

// renew extends the lease. A lost lock, or no successful renewal for a
// whole TTL (the database unreachable), makes this node a standby: its
// writes are fenced off either way, this stops it serving them.
func (e *Elector) renew(ctx context.Context) {
	e.mu.Lock()
	token, last := e.token, e.lastRenew
	e.mu.Unlock()
	ok, err := e.store.RenewLock(ctx, token, e.opts.TTL)
	switch {
	case err == nil && ok:
		e.mu.Lock()
		e.lastRenew = e.opts.Now()
		e.mu.Unlock()
		return
	case err == nil:
		e.opts.Logger.Warn("HA: lost the lock to another node; now standby", "token", token)
	case e.opts.Now().Sub(last) < e.opts.TTL:
		e.opts.Logger.Warn("HA: lock renewal failed; retrying", "error", err)
		return
	default:
		e.opts.Logger.Warn("HA: no lock renewal for a whole lease; now standby", "error", err)
	}
	e.store.Deactivate()
	e.mu.Lock()
	e.token = 0
	e.mu.Unlock()
	e.opts.OnStandby()
}

// release gives the lock up and holds off new attempts for holdOff.
func (e *Elector) release(holdOff time.Duration) error {
	e.mu.Lock()
	token := e.token
	e.token = 0
	e.holdOff = e.opts.Now().Add(holdOff)
	e.mu.Unlock()
	if token == 0 {
		return nil
	}
	e.store.Deactivate()
	e.opts.OnStandby()
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.TTL)
	defer cancel()
	if err := e.store.ReleaseLock(ctx, token); err != nil {
		return err
	}
	e.opts.Logger.Info("HA: released the lock", "token", token)
	return nil
}

// ErrNotActive is returned by StepDown on a standby.
var ErrNotActive = errors.New("this node is not the active node")

// StepDown releases the lock so a standby takes over, and keeps this node
// from running again for a few retry intervals.
func (e *Elector) StepDown(ctx context.Context) error {
	if !e.Active() {
		return ErrNotActive
	}
	reply := make(chan error, 1)
	select {
	case e.stepDown <- reply:
	case <-e.done:
		return errors.New("HA elector stopped")
	case <-ctx.Done():
		return fmt.Errorf("step down: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("step down: %w", ctx.Err())
	}
}

// Close stops competing and releases the lock if held (a clean shutdown
// hands over at once).
func (e *Elector) Close() error {
	if !e.running {
		return nil
	}
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	<-e.done
	return e.release(0)
}

// Active reports whether this node holds the lock.
func (e *Elector) Active() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.token != 0
}

// ActiveSince is when this node became active (zero when standby).
func (e *Elector) ActiveSince() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == 0 {
		return time.Time{}
	}
	return e.activeSince
}

// Leader is the active node as the lock row names it; ok is false when
// there is none (never taken, released or expired).
func (e *Elector) Leader(ctx context.Context) (storage.LockHolder, bool, error) {
	h, ok, err := e.store.Holder(ctx)
	if err != nil || !ok || h.Expired {
		return storage.LockHolder{}, false, err
	}
	return h, true, nil
}

// Nodes lists the nodes seen in the last three retry intervals or TTL,
// whichever is longer.
func (e *Elector) Nodes(ctx context.Context) ([]storage.HANode, error) {
	return e.store.HANodes(ctx, max(e.opts.TTL, 3*e.opts.Retry))
}

// ID is this node's name.
func (e *Elector) ID() string { return e.opts.ID }
