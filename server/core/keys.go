package core

import (
	"context"
	"log/slog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/barrier"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// keyholder is what the seal hands the root key to: the barrier opens its
// keyring with it, then replication opens the DR keys the barrier protects;
// sealing forgets both, and the decoded tokens and ACLs cached above them.
type keyholder struct {
	bar  *barrier.Barrier
	repl *replication.Manager
	perf *replication.Manager
	auth *auth.Manager
	own  ownKeys
	log  *slog.Logger
}

func (k keyholder) Initialize(rootKey []byte) ([]storage.Op, error) { return k.bar.Initialize(rootKey) }

func (k keyholder) Unseal(ctx context.Context, rootKey []byte) error {
	if err := k.bar.Unseal(ctx, rootKey); err != nil {
		return err
	}
	if err := k.repl.Unsealed(ctx); err != nil {
		k.bar.Seal()
		return err
	}
	if err := k.perf.Unsealed(ctx); err != nil {
		k.repl.Sealed()
		k.bar.Seal()
		return err
	}
	k.healOwnKeys(ctx)
	return nil
}

// healOwnKeys finishes a move of this cluster's own keys that a crash cut
// short (ownkeys.go): a cluster that is neither kind of secondary keeps
// them in the replicated keyspace, so any left in the local one move
// there. It costs one range query per prefix when there is nothing to do.
func (k keyholder) healOwnKeys(ctx context.Context) {
	if k.perf.Mode() == replication.ModeSecondary || k.repl.Mode() == replication.ModeSecondary {
		return
	}
	if err := k.own.move(ctx, true); err != nil {
		k.log.Warn("could not move this cluster's own tokens and local mount data into the replicated keyspace", "error", err)
	}
}

func (k keyholder) Rekey(ctx context.Context, newRootKey []byte) ([]storage.Op, func(), error) {
	return k.bar.Rekey(ctx, newRootKey)
}

func (k keyholder) Seal() {
	k.perf.Sealed()
	k.repl.Sealed()
	k.bar.Seal()
	k.auth.DropCaches()
}
