// Package core holds one cluster's parts together — storage, seal, tokens and
// policies, the KV mount — and the operations that span them, such as
// initialisation. The HTTP layer and the command line talk to a Core.
package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/barrier"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/kvv2"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/seal"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Version is the Vault version the server reports; clients gate features on it.
const Version = "1.19.0+ent"

// Core is one cluster.
type Core struct {
	// rootGen runs sys/generate-root (root_generation.go).
	rootGen rootGeneration

	Store *storage.Store
	// Barrier encrypts what the domain packages store (server/barrier);
	// they are handed it, never the raw Store.
	Barrier *barrier.Barrier
	// Data is the barrier as the domain packages use it: on a performance
	// secondary its own tokens and local mounts' data are kept local
	// (perfsplit.go).
	Data storage.Data
	Seal *seal.Manager
	Auth *auth.Manager
	// Mounts says which engine serves which path; KVv2 serves the
	// versioned KV mounts (KV v1 mounts are kv.Mount values made per request).
	Mounts *mounts.Table
	KVv2   *kvv2.Engine
	Repl   *replication.Manager
	// Perf is the performance replication Manager: the same machinery
	// as Repl over the same store, for the other family (Vault runs both).
	Perf *replication.Manager
	Log  *slog.Logger
	Now  func() time.Time
}

// Options configure a Core; zero values take sensible defaults.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	Random io.Reader
	// Replication carries the advertised addresses and timings.
	Replication replication.Options
}

// New assembles a cluster on an open store and resumes its DR role. The
// cluster starts sealed. Close stops replication.
func New(ctx context.Context, store *storage.Store, opts Options) (*Core, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	bar := barrier.New(store, barrier.Options{
		PlainReplicated: []string{seal.ConfigKey},
		PlainLocal:      []string{replication.StateKey, replication.PerformanceStateKey, identityKey},
		Random:          opts.Random,
		Now:             opts.Now,
		Logger:          opts.Logger,
	})
	sealer := seal.New(store, opts.Random, opts.Logger)
	ropts := opts.Replication
	if ropts.Logger == nil {
		ropts.Logger = opts.Logger
	}
	ropts.Data, ropts.Keys = bar, bar
	ropts.OwnLocal = ownLocalKeys()
	repl, err := replication.New(ctx, store, sealer, ropts)
	if err != nil {
		return nil, err
	}
	// The performance Manager reads the mount table, which must know
	// whether that Manager makes this cluster a performance secondary.
	var perfRef atomic.Pointer[replication.Manager]
	perfSecondary := func() bool {
		p := perfRef.Load()
		return p != nil && p.Mode() == replication.ModeSecondary
	}
	split := localSplit{Data: bar, prefixes: append(auth.TokenKeyPrefixes(), mounts.LocalPrefix), active: perfSecondary}
	mountTable := mounts.New(split)
	mountTable.SetLocalOnly(perfSecondary)
	popts := ropts
	popts.Kind = replication.KindPerformance
	popts.TokenPrefixes = auth.TokenKeyPrefixes()
	popts.Mounts = mountRefs(mountTable)
	own := ownKeys{bar: bar, table: mountTable, prefixes: append(auth.TokenKeyPrefixes(), mounts.LocalPrefix)}
	popts.OwnKeysToReplicated, popts.OwnKeysToLocal = own.toReplicated, own.toLocal
	perf, err := replication.New(ctx, store, sealer, popts)
	if err != nil {
		repl.Close()
		return nil, err
	}
	perfRef.Store(perf)
	repl.SetPeer(perf)
	bar.SetReplicatedWriter(func() bool {
		return repl.Mode() != replication.ModeSecondary && !perfSecondary()
	})
	tokens := auth.New(split, opts.Now, opts.Random)
	sealer.SetKeyholder(keyholder{bar: bar, repl: repl, perf: perf, auth: tokens, own: own, log: opts.Logger})
	return &Core{
		Store:   store,
		Barrier: bar,
		Seal:    sealer,
		Data:    split,
		Auth:    tokens,
		Mounts:  mountTable,
		KVv2:    kvv2.New(split, opts.Now),
		Repl:    repl,
		Perf:    perf,
		Log:     opts.Logger,
		Now:     opts.Now,
	}, nil
}

// Close stops background work (replication streams).
func (c *Core) Close() {
	c.Perf.Close()
	c.Repl.Close()
}

// InitResult is what sys/init hands out once: the key shares and root token.
type InitResult struct {
	Keys      [][]byte
	RootToken string
}

// Initialize splits a new root key into shares and creates the root token
// (rootTokenID, or a random one when empty). The cluster stays sealed.
func (c *Core) Initialize(ctx context.Context, shares, threshold int, rootTokenID string) (*InitResult, error) {
	keys, err := c.Seal.Init(ctx, shares, threshold)
	if err != nil {
		return nil, err
	}
	// Init left the new keyring open so that the root token is written
	// encrypted; the cluster stays sealed, so drop it when done.
	defer c.Barrier.Seal()
	root, err := c.Auth.CreateRoot(ctx, rootTokenID)
	if err != nil {
		return nil, fmt.Errorf("create root token: %w", err)
	}
	if _, err := c.Identity(ctx); err != nil {
		return nil, err
	}
	return &InitResult{Keys: keys, RootToken: root.ID}, nil
}

// Identity is the cluster's own name and id (not the DR set's id).
type Identity struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

const identityKey = "core/identity"

// Identity returns the cluster's identity, creating it on first use.
func (c *Core) Identity(ctx context.Context) (Identity, error) {
	var id Identity
	raw, err := c.Store.LocalGet(ctx, identityKey)
	if err == nil {
		if err := json.Unmarshal(raw, &id); err != nil {
			return id, fmt.Errorf("decode cluster identity: %w", err)
		}
		return id, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return id, fmt.Errorf("read cluster identity: %w", err)
	}
	uuid, err := randid.UUID(rand.Reader)
	if err != nil {
		return id, err
	}
	id = Identity{Name: "vault-cluster-" + uuid[:8], ID: uuid}
	raw, err = json.Marshal(id)
	if err != nil {
		return id, fmt.Errorf("encode cluster identity: %w", err)
	}
	if _, err := c.Store.Write(ctx, storage.Op{Local: true, Key: identityKey, Value: raw}); err != nil {
		return id, fmt.Errorf("store cluster identity: %w", err)
	}
	return id, nil
}
