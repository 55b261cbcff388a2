package core

import (
	"context"
	"fmt"
	"sync"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/optoken"
)

// rootGenerationPath is the attempt endpoint that generate-root messages
// point to.
const rootGenerationPath = "sys/generate-root/attempt"

// rootGeneration holds the cluster's one sys/generate-root generator, made
// on first use.
type rootGeneration struct {
	once sync.Once
	gen  *optoken.Generator
}

// RootGen returns the generator behind sys/generate-root. It is the DR
// operation token machinery (nonce, OTP, shares kept in memory only,
// verification against the seal configuration, Vault's OTP encoding)
// minting a root token instead: a never-expiring orphan service token with
// the root policy, stored like every token in the replicated keyspace, so
// that DR secondaries hold it too.
func (c *Core) RootGen() *optoken.Generator {
	c.rootGen.once.Do(func() {
		c.rootGen.gen = optoken.NewKind(c.Barrier, c.Seal, nil, c.Log, optoken.Kind{
			What:        "root token",
			LogWhat:     "root token",
			AttemptPath: rootGenerationPath,
			KeyOwner:    "this cluster's",
			Mint:        c.mintRootToken,
		})
	})
	return c.rootGen.gen
}

func (c *Core) mintRootToken(ctx context.Context, _ string) (string, error) {
	tok, err := c.Auth.CreateRoot(ctx, "")
	if err != nil {
		return "", fmt.Errorf("create root token: %w", err)
	}
	// The OTP encoding XORs byte for byte; a token of another length
	// could not be decoded.
	if len(tok.ID) != optoken.OTPLength {
		_ = c.Auth.Revoke(ctx, tok.ID) // nobody could ever use it
		return "", fmt.Errorf("create root token: id is %d characters, the OTP encoding needs %d", len(tok.ID), optoken.OTPLength)
	}
	return tok.ID, nil
}
