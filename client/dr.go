package client

import (
	"context"
	"encoding/json"
	"fmt"
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
	body := map[string]any{}
	if primaryClusterAddr != "" {
		body["primary_cluster_addr"] = primaryClusterAddr
	}
	return c.change(ctx, "sys/replication/dr/primary/enable", body, nil, false)
}

// DemotePrimary turns the primary into a secondary that follows nobody.
func (c *Client) DemotePrimary(ctx context.Context) (Warnings, error) {
	return c.change(ctx, "sys/replication/dr/primary/demote", nil, nil, false)
}

// DisablePrimary turns DR replication off on the primary; its secondaries
// are cut off.
func (c *Client) DisablePrimary(ctx context.Context) (Warnings, error) {
	return c.change(ctx, "sys/replication/dr/primary/disable", nil, nil, false)
}

// SecondaryToken mints an activation token for secondary id on the primary.
// ttl is a Vault duration ("30m", "1800"); empty means the server default.
// Without a public key the token is the response-wrapping token (wrapped is
// true); with one it is the bundle encrypted to that key. Never retried:
// a second attempt would fail with "id already in use" or mint twice.
func (c *Client) SecondaryToken(ctx context.Context, id, ttl, secondaryPublicKey string) (token string, wrapped bool, err error) {
	body := map[string]any{"id": id}
	if ttl != "" {
		body["ttl"] = ttl
	}
	if secondaryPublicKey != "" {
		body["secondary_public_key"] = secondaryPublicKey
	}
	const path = "sys/replication/dr/primary/secondary-token"
	env, err := c.logical(ctx, request{method: http.MethodPut, path: path, body: body, retry: retryNever})
	if err != nil {
		return "", false, err
	}
	if env.WrapInfo != nil && env.WrapInfo.Token != "" {
		return env.WrapInfo.Token, true, nil
	}
	var data struct {
		Token string `json:"token"`
	}
	if len(env.Data) > 0 {
		_ = json.Unmarshal(env.Data, &data)
	}
	if data.Token == "" {
		return "", false, fmt.Errorf("PUT %s: the answer holds neither wrap_info.token nor data.token", path)
	}
	return data.Token, false, nil
}

// RevokeSecondary removes secondary id from the primary's DR set.
func (c *Client) RevokeSecondary(ctx context.Context, id string) (Warnings, error) {
	return c.change(ctx, "sys/replication/dr/primary/revoke-secondary", map[string]any{"id": id}, nil, false)
}

// GeneratePublicKey creates a key pair on the (future) secondary and returns
// its public half, for SecondaryToken's secondaryPublicKey.
func (c *Client) GeneratePublicKey(ctx context.Context) (string, error) {
	const path = "sys/replication/dr/secondary/generate-public-key"
	env, err := c.logical(ctx, request{method: http.MethodPut, path: path, body: map[string]any{}, retry: retryNever})
	if err != nil {
		return "", err
	}
	var data struct {
		Key string `json:"secondary_public_key"`
	}
	if err := json.Unmarshal(env.Data, &data); err != nil || data.Key == "" {
		return "", fmt.Errorf("PUT %s: the answer holds no secondary_public_key", path)
	}
	return data.Key, nil
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
	return c.change(ctx, "sys/replication/dr/secondary/enable", a.body(), []string{a.Token}, false)
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
