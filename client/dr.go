package client

import (
	"context"
	"net/http"
)

// Warnings are the warnings a state-changing replication call answers with
// (API.md §1: they say what is happening).
type Warnings []string

func (c *Client) change(ctx context.Context, path string, body map[string]any, secrets []string, noToken bool) (Warnings, error) {
	if body == nil {
		body = map[string]any{}
	}
	env, err := c.logical(ctx, request{method: http.MethodPut, path: path, body: body, retry: retryNever, secrets: secrets, noToken: noToken})
	if err != nil {
		return nil, err
	}
	return env.Warnings, nil
}

// EnablePrimary makes the cluster the primary of a new DR set. An empty
// primaryClusterAddr lets the server use its own cluster address.
func (c *Client) EnablePrimary(ctx context.Context, primaryClusterAddr string) (Warnings, error) {
	return c.Replication(KindDR).EnablePrimary(ctx, primaryClusterAddr)
}

// DemotePrimary turns the DR primary into a secondary that follows nobody.
func (c *Client) DemotePrimary(ctx context.Context) (Warnings, error) {
	return c.Replication(KindDR).DemotePrimary(ctx)
}

// DisablePrimary turns DR replication off on the primary; its secondaries
// are cut off.
func (c *Client) DisablePrimary(ctx context.Context) (Warnings, error) {
	return c.Replication(KindDR).DisablePrimary(ctx)
}

// SecondaryToken mints a DR activation token (Replication.SecondaryToken).
func (c *Client) SecondaryToken(ctx context.Context, id, ttl, secondaryPublicKey string) (token string, wrapped bool, err error) {
	return c.Replication(KindDR).SecondaryToken(ctx, id, ttl, secondaryPublicKey)
}

// RevokeSecondary removes secondary id from the primary's DR set.
func (c *Client) RevokeSecondary(ctx context.Context, id string) (Warnings, error) {
	return c.Replication(KindDR).RevokeSecondary(ctx, id)
}

// GeneratePublicKey creates a key pair on the (future) DR secondary and
// returns its public half, for SecondaryToken's secondaryPublicKey.
func (c *Client) GeneratePublicKey(ctx context.Context) (string, error) {
	return c.Replication(KindDR).GeneratePublicKey(ctx)
}

// Activation is what secondary enable and update-primary send.
type Activation struct {
	// Token is the activation token from the primary (sensitive).
	Token string
	// PrimaryAPIAddr overrides the token's addr claim for the unwrap.
	PrimaryAPIAddr string
	// CAFile and CAPath are read by the secondary's server to trust the
	// primary's API certificate.
	CAFile string
	CAPath string
}

func (a Activation) body() map[string]any {
	b := map[string]any{"token": a.Token}
	if a.PrimaryAPIAddr != "" {
		b["primary_api_addr"] = a.PrimaryAPIAddr
	}
	if a.CAFile != "" {
		b["ca_file"] = a.CAFile
	}
	if a.CAPath != "" {
		b["ca_path"] = a.CAPath
	}
	return b
}

// EnableSecondary makes the cluster a DR secondary. This WIPES the
// cluster's replicated data once the token is accepted. Never retried: the
// activation token is single use.
func (c *Client) EnableSecondary(ctx context.Context, a Activation) (Warnings, error) {
	return c.Replication(KindDR).EnableSecondary(ctx, a)
}

// UpdatePrimary points a secondary at another primary of the same DR set
// without a wipe. It authenticates with the DR operation token only.
func (c *Client) UpdatePrimary(ctx context.Context, drOperationToken string, a Activation) (Warnings, error) {
	body := a.body()
	body["dr_operation_token"] = drOperationToken
	return c.change(ctx, "sys/replication/dr/secondary/update-primary", body, []string{a.Token, drOperationToken}, true)
}

// Promote makes the secondary the primary of its DR set. Never retried
// here: a 503 (IsPromotionBehind) means it has not caught up, and the caller
// decides whether to wait or force.
func (c *Client) Promote(ctx context.Context, drOperationToken, primaryClusterAddr string, force bool) (Warnings, error) {
	body := map[string]any{"dr_operation_token": drOperationToken}
	if primaryClusterAddr != "" {
		body["primary_cluster_addr"] = primaryClusterAddr
	}
	if force {
		body["force"] = true
	}
	return c.change(ctx, "sys/replication/dr/secondary/promote", body, []string{drOperationToken}, true)
}

// DisableSecondary turns DR replication off on a secondary (its data stays).
// With a non-empty drOperationToken that token authenticates; otherwise the
// client's token does.
func (c *Client) DisableSecondary(ctx context.Context, drOperationToken string) (Warnings, error) {
	body := map[string]any{}
	if drOperationToken != "" {
		body["dr_operation_token"] = drOperationToken
	}
	return c.change(ctx, "sys/replication/dr/secondary/disable", body, []string{drOperationToken}, drOperationToken != "")
}

// DeleteOperationToken revokes a DR operation token on the secondary that
// generated it.
func (c *Client) DeleteOperationToken(ctx context.Context, drOperationToken string) error {
	_, err := c.change(ctx, "sys/replication/dr/secondary/operation-token/delete",
		map[string]any{"dr_operation_token": drOperationToken}, []string{drOperationToken}, true)
	return err
}

// WrappingTokenValid asks sys/wrapping/lookup (no token needed) whether a
// response-wrapping token can still be unwrapped: false when it was used or
// has expired (the server answers 400 for both).
func (c *Client) WrappingTokenValid(ctx context.Context, wrappingToken string) (bool, error) {
	_, err := c.logical(ctx, request{method: http.MethodPut, path: "sys/wrapping/lookup",
		body: map[string]any{"token": wrappingToken}, retry: retryIdempotent, secrets: []string{wrappingToken}, noToken: true})
	switch {
	case err == nil:
		return true, nil
	case StatusCode(err) == http.StatusBadRequest:
		return false, nil
	default:
		return false, err
	}
}
