package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Kind is one of Vault's two replication families, named as in their
// paths (sys/replication/<kind>/...). Both answer the same calls in the
// same shapes for the primary side, activation tokens, secondary enable
// and status; they differ in who authenticates a secondary's calls (a DR
// secondary knows only DR operation tokens, a performance secondary has
// its own token store) and in the performance primary's paths filters.
type Kind string

// The two families.
const (
	KindDR          Kind = "dr"
	KindPerformance Kind = "performance"
)

// Path is the endpoint rest of this family, e.g. Path("primary/enable").
func (k Kind) Path(rest string) string { return "sys/replication/" + string(k) + "/" + rest }

// Replication is one family's endpoints on the client's cluster.
type Replication struct {
	c    *Client
	kind Kind
}

// Replication returns the calls of family k on c's cluster.
func (c *Client) Replication(k Kind) Replication { return Replication{c: c, kind: k} }

// Kind is the family r calls.
func (r Replication) Kind() Kind { return r.kind }

// EnablePrimary makes the cluster the primary of a new replication set of
// this family. An empty primaryClusterAddr lets the server use its own
// cluster address.
func (r Replication) EnablePrimary(ctx context.Context, primaryClusterAddr string) (Warnings, error) {
	body := map[string]any{}
	if primaryClusterAddr != "" {
		body["primary_cluster_addr"] = primaryClusterAddr
	}
	return r.c.change(ctx, r.kind.Path("primary/enable"), body, nil, false)
}

// DemotePrimary turns the primary into a secondary that follows nobody.
func (r Replication) DemotePrimary(ctx context.Context) (Warnings, error) {
	return r.c.change(ctx, r.kind.Path("primary/demote"), nil, nil, false)
}

// DisablePrimary turns replication of this family off on the primary; its
// secondaries are cut off.
func (r Replication) DisablePrimary(ctx context.Context) (Warnings, error) {
	return r.c.change(ctx, r.kind.Path("primary/disable"), nil, nil, false)
}

// SecondaryToken mints an activation token for secondary id on the primary.
// ttl is a Vault duration ("30m", "1800"); empty means the server default.
// Without a public key the token is the response-wrapping token (wrapped is
// true); with one it is the bundle encrypted to that key. Never retried:
// a second attempt would fail with "id already in use" or mint twice.
func (r Replication) SecondaryToken(ctx context.Context, id, ttl, secondaryPublicKey string) (token string, wrapped bool, err error) {
	body := map[string]any{"id": id}
	if ttl != "" {
		body["ttl"] = ttl
	}
	if secondaryPublicKey != "" {
		body["secondary_public_key"] = secondaryPublicKey
	}
	path := r.kind.Path("primary/secondary-token")
	env, err := r.c.logical(ctx, request{method: http.MethodPut, path: path, body: body, retry: retryNever})
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

// RevokeSecondary removes secondary id from the primary's set.
func (r Replication) RevokeSecondary(ctx context.Context, id string) (Warnings, error) {
	return r.c.change(ctx, r.kind.Path("primary/revoke-secondary"), map[string]any{"id": id}, nil, false)
}

// GeneratePublicKey creates a key pair on the (future) secondary and returns
// its public half, for SecondaryToken's secondaryPublicKey.
func (r Replication) GeneratePublicKey(ctx context.Context) (string, error) {
	path := r.kind.Path("secondary/generate-public-key")
	env, err := r.c.logical(ctx, request{method: http.MethodPut, path: path, body: map[string]any{}, retry: retryNever})
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

// EnableSecondary makes the cluster a secondary of this family. This
// WIPES the cluster's replicated data once the token is accepted (for a
// performance secondary its tokens too). Never retried: the activation
// token is single use.
func (r Replication) EnableSecondary(ctx context.Context, a Activation) (Warnings, error) {
	return r.c.change(ctx, r.kind.Path("secondary/enable"), a.body(), []string{a.Token}, false)
}

// Status reads GET sys/replication/<kind>/status (no token needed). Both
// families answer the same fields (API.md §4).
func (r Replication) Status(ctx context.Context) (*DRStatus, error) {
	path := r.kind.Path("status")
	env, err := r.c.logical(ctx, request{method: http.MethodGet, path: path, retry: retryIdempotent, noToken: true})
	if err != nil {
		return nil, err
	}
	var w wireDRStatus
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, fmt.Errorf("GET %s: the answer has no data", path)
	}
	if err := json.Unmarshal(env.Data, &w); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", path, err)
	}
	if w.Mode == "" {
		return nil, fmt.Errorf("GET %s: the answer has no mode", path)
	}
	return w.status(), nil
}
