package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// A performance secondary is a working cluster with its own token store,
// so its own calls (update-primary, promote, disable) authenticate with an
// ordinary token of that cluster, as in Vault Enterprise; DR secondaries
// take DR operation tokens instead (dr.go).

// PerformanceUpdatePrimary points a performance secondary at another
// primary of its set without a wipe, with the client's token.
func (c *Client) PerformanceUpdatePrimary(ctx context.Context, a Activation) (Warnings, error) {
	return c.change(ctx, KindPerformance.Path("secondary/update-primary"), a.body(), []string{a.Token}, false)
}

// PerformancePromote makes a performance secondary the primary of its set.
// Never retried: the caller decides what a refusal means.
func (c *Client) PerformancePromote(ctx context.Context, primaryClusterAddr string, force bool) (Warnings, error) {
	body := map[string]any{}
	if primaryClusterAddr != "" {
		body["primary_cluster_addr"] = primaryClusterAddr
	}
	if force {
		body["force"] = true
	}
	return c.change(ctx, KindPerformance.Path("secondary/promote"), body, nil, false)
}

// PerformanceDisableSecondary turns performance replication off on a
// secondary, with the client's token (one of the secondary's own).
func (c *Client) PerformanceDisableSecondary(ctx context.Context) (Warnings, error) {
	return c.change(ctx, KindPerformance.Path("secondary/disable"), nil, nil, false)
}

// PathsFilter is a performance secondary's paths filter, kept on the
// primary by secondary id: Mode "allow" replicates only Paths (mount
// paths), "deny" everything but them.
type PathsFilter struct {
	Mode  string   `json:"mode"`
	Paths []string `json:"paths"`
}

func pathsFilterPath(id string) string { return KindPerformance.Path("primary/paths-filter/" + id) }

// ReadPathsFilter reads the filter of secondary id on the performance
// primary; nil when it has none.
func (c *Client) ReadPathsFilter(ctx context.Context, id string) (*PathsFilter, error) {
	path := pathsFilterPath(id)
	env, err := c.logical(ctx, request{method: http.MethodGet, path: path, retry: retryIdempotent})
	switch {
	case StatusCode(err) == http.StatusNotFound:
		return nil, nil
	case err != nil:
		return nil, err
	case len(env.Data) == 0 || string(env.Data) == "null":
		return nil, nil
	}
	f := &PathsFilter{}
	if err := json.Unmarshal(env.Data, f); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", path, err)
	}
	if f.Mode == "" {
		return nil, nil
	}
	return f, nil
}

// WritePathsFilter sets (or replaces) the filter of secondary id.
func (c *Client) WritePathsFilter(ctx context.Context, id string, f PathsFilter) error {
	_, err := c.change(ctx, pathsFilterPath(id), map[string]any{"mode": f.Mode, "paths": f.Paths}, nil, false)
	return err
}

// DeletePathsFilter removes the filter of secondary id: it receives every
// replicated mount again.
func (c *Client) DeletePathsFilter(ctx context.Context, id string) error {
	_, err := c.logical(ctx, request{method: http.MethodDelete, path: pathsFilterPath(id), retry: retryNever})
	return err
}
