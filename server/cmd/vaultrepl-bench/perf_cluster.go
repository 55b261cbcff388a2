package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/helper/roottoken"
)

// This file sets up a performance replication pair for the perf section:
// two server processes joined over the HTTP API as an operator would
// (performance/primary/enable, secondary-token, secondary/enable), and the
// secondary's own root token made with sys/generate-root from the
// primary's unseal key (a performance secondary keeps its own tokens).

// perfSecondaryID is the secondary's id in the performance set.
const perfSecondaryID = "perf-secondary"

// perfStatus is the part of sys/replication/performance/status the
// section reads.
type perfStatus struct {
	Mode               string `json:"mode"`
	State              string `json:"state"`
	LastPerformanceWAL uint64 `json:"last_performance_wal"`
	LastRemoteWAL      uint64 `json:"last_remote_wal"`
}

// perfStatus reads n's sys/replication/performance/status.
func (a *apiClient) perfStatus(ctx context.Context, n *serverProc) (perfStatus, error) {
	var env envelope
	var st perfStatus
	if err := a.call(ctx, http.MethodGet, n, "sys/replication/performance/status", "", nil, &env); err != nil {
		return st, err
	}
	if err := json.Unmarshal(env.Data, &st); err != nil {
		return st, fmt.Errorf("decode performance status: %w", err)
	}
	return st, nil
}

// newPerfPair starts a performance primary and one performance secondary
// streaming from it, and returns the cluster and the secondary's root
// token. Call close on the cluster, also after an error (it is nil then).
func newPerfPair(ctx context.Context, o options) (c *replCluster, secRoot string, err error) {
	c, err = startReplCluster(ctx, o, "performance")
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			_ = c.close(ctx)
			c = nil
		}
	}()
	n, err := c.startNode(ctx, perfSecondaryID)
	if err != nil {
		return nil, "", err
	}
	c.secondaries = append(c.secondaries, n)
	var out envelope
	if err := c.api.call(ctx, http.MethodPut, c.primary, "sys/replication/performance/primary/secondary-token", replRootToken, map[string]any{"id": perfSecondaryID}, &out); err != nil {
		return nil, "", fmt.Errorf("performance secondary-token: %w", err)
	}
	if out.WrapInfo == nil || out.WrapInfo.Token == "" {
		return nil, "", fmt.Errorf("performance secondary-token answered no wrap_info.token")
	}
	if err := c.api.call(ctx, http.MethodPut, n, "sys/replication/performance/secondary/enable", replRootToken, map[string]any{"token": out.WrapInfo.Token}, nil); err != nil {
		return nil, "", fmt.Errorf("enable performance secondary: %w", err)
	}
	if err := c.waitPerfStreaming(ctx, n); err != nil {
		return nil, "", err
	}
	if secRoot, err = c.generateRoot(ctx, n); err != nil {
		return nil, "", err
	}
	return c, secRoot, nil
}

// waitPerfStreaming polls n's performance status until it streams WALs.
func (c *replCluster) waitPerfStreaming(ctx context.Context, n *serverProc) error {
	deadline := time.Now().Add(convergeLimit)
	for {
		st, err := c.api.perfStatus(ctx, n)
		if err == nil && st.Mode == "secondary" && st.State == "stream-wals" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("performance secondary not streaming after %s: mode %q state %q (%v)", convergeLimit, st.Mode, st.State, err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// generateRoot makes a root token on n with the primary's unseal key (dev
// mode: one share), as `vault operator generate-root` does.
func (c *replCluster) generateRoot(ctx context.Context, n *serverProc) (string, error) {
	var st opTokenStatus
	if err := c.api.call(ctx, http.MethodPut, n, "sys/generate-root/attempt", "", map[string]any{}, &st); err != nil {
		return "", fmt.Errorf("generate-root attempt: %w", err)
	}
	otp := st.OTP
	if otp == "" || st.Nonce == "" {
		return "", fmt.Errorf("generate-root attempt answered no otp/nonce: %+v", st)
	}
	key := fmt.Sprintf("%x", c.primary.devKey)
	if err := c.api.call(ctx, http.MethodPut, n, "sys/generate-root/update", "", map[string]any{"key": key, "nonce": st.Nonce}, &st); err != nil {
		return "", fmt.Errorf("generate-root update: %w", err)
	}
	if !st.Complete || st.EncodedToken == "" {
		return "", fmt.Errorf("root generation not complete after the primary's key: %+v", st)
	}
	tok, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		return "", fmt.Errorf("decode root token: %w", err)
	}
	return tok, nil
}
