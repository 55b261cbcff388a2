package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/roottoken"
)

// This file sets up DR sets for the replication section: server processes
// on loopback, joined over the HTTP API exactly as an operator would
// (primary/enable, primary/secondary-token, secondary/enable).

const (
	// replHeartbeat is every node's heartbeat interval.
	replHeartbeat = 200 * time.Millisecond
	// replRootToken is the dev root token of every node. A secondary takes
	// its primary's token store, so after a promotion the same token works.
	replRootToken = "root"
	// convergeLimit bounds waiting for secondaries to be in sync.
	convergeLimit = 60 * time.Second
)

// replCluster is one DR set: a primary and its secondaries, each a server
// process, all databases in one temporary folder.
type replCluster struct {
	o           options
	dir         string
	api         *apiClient
	primary     *serverProc
	secondaries []*serverProc
	// dbs are read-only connections of this process to the databases,
	// opened on first use and closed with the cluster.
	dbs map[*serverProc]walDB
	// openDB opens a node's walDB; nil opens its SQLite file.
	openDB func(*serverProc) (walDB, error)
	// seq numbers the clusters of a run, to name their profiles.
	seq int
}

// clusterSeq counts the clusters this run started.
var clusterSeq atomic.Int64

// newReplCluster starts a primary on a fresh database and enables it as a
// DR primary. Call close on the result, also after an error (it is nil then).
func newReplCluster(ctx context.Context, o options) (*replCluster, error) {
	return startReplCluster(ctx, o, "dr")
}

// startReplCluster starts a primary on a fresh database and enables it as
// a primary of kind ("dr" or "performance"). Call close on the result,
// also after an error (it is nil then).
func startReplCluster(ctx context.Context, o options, kind string) (c *replCluster, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-repl-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	// The returns below set c to nil before this runs: keep the cluster
	// being started in its own variable so a failure still stops it.
	started := &replCluster{o: o, dir: dir, api: newAPIClient(), dbs: map[*serverProc]walDB{}, seq: int(clusterSeq.Add(1))}
	c = started
	defer func() {
		if err != nil {
			_ = started.close(ctx)
			c = nil
		}
	}()
	if c.primary, err = c.startNode(ctx, "primary"); err != nil {
		return nil, err
	}
	if err := c.api.call(ctx, http.MethodPut, c.primary, "sys/replication/"+kind+"/primary/enable", replRootToken, map[string]any{}, nil); err != nil {
		return nil, fmt.Errorf("enable %s primary: %w", kind, err)
	}
	return c, nil
}

// startNode starts one dev server (initialised, unsealed, root token
// "root") on its own FULL-sync database file in the cluster's folder.
func (c *replCluster) startNode(ctx context.Context, name string) (*serverProc, error) {
	var env []string
	if c.o.replProfileDir != "" {
		prof := filepath.Join(c.o.replProfileDir, fmt.Sprintf("cluster%02d-%s.pprof", c.seq, name))
		env = append(env, profileEnv+"="+prof)
		_, _ = fmt.Fprintf(c.o.stderr, "vaultrepl-bench: %s of cluster %d profiles to %s\n", name, c.seq, prof)
	}
	return startServer(ctx, c.o, name, filepath.Join(c.dir, name+".db"), "full", replHeartbeat, env)
}

// db returns this process's read-only connection to p's database.
func (c *replCluster) db(p *serverProc) (walDB, error) {
	if db := c.dbs[p]; db != nil {
		return db, nil
	}
	var db walDB
	if c.openDB != nil {
		var err error
		if db, err = c.openDB(p); err != nil {
			return nil, err
		}
	} else {
		sdb, err := openServerDB(p.dbPath)
		if err != nil {
			return nil, err
		}
		db = sqliteWAL{sdb}
	}
	c.dbs[p] = db
	return db, nil
}

// addSecondary starts a fresh node and mints its activation token (neither
// is timed), and returns enable, which joins it to the DR set. The caller
// times enable when bootstrap is what it measures. The node belongs to the
// cluster (close stops it) from the moment it started.
func (c *replCluster) addSecondary(ctx context.Context, id string) (*serverProc, func(context.Context) error, error) {
	n, err := c.startNode(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c.secondaries = append(c.secondaries, n)
	var out envelope
	if err := c.api.call(ctx, http.MethodPut, c.primary, "sys/replication/dr/primary/secondary-token", replRootToken, map[string]any{"id": id}, &out); err != nil {
		return nil, nil, fmt.Errorf("secondary-token for %s: %w", id, err)
	}
	if out.WrapInfo == nil || out.WrapInfo.Token == "" {
		return nil, nil, fmt.Errorf("secondary-token for %s answered no wrap_info.token", id)
	}
	token := out.WrapInfo.Token
	enable := func(ctx context.Context) error {
		if err := c.api.call(ctx, http.MethodPut, n, "sys/replication/dr/secondary/enable", replRootToken, map[string]any{"token": token}, nil); err != nil {
			return fmt.Errorf("enable secondary %s: %w", id, err)
		}
		return nil
	}
	return n, enable, nil
}

// addSecondaries joins count new secondaries and waits until all of them
// stream WALs in sync with the primary.
func (c *replCluster) addSecondaries(ctx context.Context, count int) error {
	for range count {
		_, enable, err := c.addSecondary(ctx, fmt.Sprintf("secondary-%d", len(c.secondaries)+1))
		if err != nil {
			return err
		}
		if err := enable(ctx); err != nil {
			return err
		}
	}
	return c.waitConverged(ctx, convergeLimit, 20*time.Millisecond)
}

// converged reports whether every secondary streams WALs with the primary's
// merkle root at the primary's WAL index (the drtest waitInSync condition),
// and otherwise what it saw.
func (c *replCluster) converged(ctx context.Context) (bool, string, error) {
	p, err := c.api.drStatus(ctx, c.primary)
	if err != nil {
		return false, "", fmt.Errorf("primary status: %w", err)
	}
	for _, n := range c.secondaries {
		s, err := c.api.drStatus(ctx, n)
		if err != nil {
			return false, "", fmt.Errorf("%s status: %w", n.name, err)
		}
		if s.Mode != "secondary" || s.State != "stream-wals" || s.MerkleRoot != p.MerkleRoot || s.LastRemoteWAL != p.LastWAL {
			return false, fmt.Sprintf("primary wal %d root %.8s; %s mode %s state %s wal %d root %.8s",
				p.LastWAL, p.MerkleRoot, n.name, s.Mode, s.State, s.LastRemoteWAL, s.MerkleRoot), nil
		}
	}
	return true, "", nil
}

// waitConverged polls converged every interval until it holds, limit passes
// or ctx ends.
func (c *replCluster) waitConverged(ctx context.Context, limit, interval time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for {
		ok, detail, err := c.converged(ctx)
		if ok {
			return nil
		}
		// A status error is kept and retried: a node being enabled may not
		// answer for a moment.
		if err != nil {
			detail = err.Error()
		}
		last = detail
		if time.Now().After(deadline) {
			return fmt.Errorf("secondaries not in sync after %s: %s", limit, last)
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return err
		}
	}
}

// caughtUp waits until every secondary's database holds the primary's
// newest WAL index, and returns how long that took. Cheaper and more
// precise than the status API right after a load.
func (c *replCluster) caughtUp(ctx context.Context, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	pdb, err := c.db(c.primary)
	if err != nil {
		return 0, err
	}
	target, err := pdb.lastWAL(ctx)
	if err != nil {
		return 0, err
	}
	for _, n := range c.secondaries {
		sdb, err := c.db(n)
		if err != nil {
			return 0, err
		}
		for {
			pos, err := sdb.lastWAL(ctx)
			if err != nil {
				return time.Since(start), err
			}
			if pos >= target {
				break
			}
			if time.Since(start) > limit {
				return time.Since(start), fmt.Errorf("%s at WAL %d, primary at %d after %s", n.name, pos, target, limit)
			}
			if err := sleepCtx(ctx, time.Millisecond); err != nil {
				return time.Since(start), err
			}
		}
	}
	return time.Since(start), nil
}

// close stops every server (secondaries first, so they do not spend the
// primary's shutdown reconnecting) and removes the folder. It runs even when
// ctx is cancelled, bounded by shutdownTimeout per server.
func (c *replCluster) close(context.Context) error {
	var errs []error
	for _, db := range c.dbs {
		errs = append(errs, db.close())
	}
	nodes := append([]*serverProc(nil), c.secondaries...)
	if c.primary != nil {
		nodes = append(nodes, c.primary)
	}
	for _, n := range nodes {
		errs = append(errs, n.stop())
	}
	c.secondaries, c.primary, c.dbs = nil, nil, nil
	c.api.close()
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove temp dir: %w", err))
	}
	return errors.Join(errs...)
}

// drOperationToken generates a DR operation token on a secondary with the
// primary's unseal key (dev mode: one share) and decodes it the way
// `vault operator generate-root -dr-token -decode` does.
func (c *replCluster) drOperationToken(ctx context.Context, secondary *serverProc) (string, error) {
	var st opTokenStatus
	if err := c.api.call(ctx, http.MethodPut, secondary, "sys/replication/dr/secondary/generate-operation-token/attempt", "", map[string]any{}, &st); err != nil {
		return "", fmt.Errorf("generate-operation-token attempt: %w", err)
	}
	otp := st.OTP
	if otp == "" || st.Nonce == "" {
		return "", fmt.Errorf("generate-operation-token attempt answered no otp/nonce: %+v", st)
	}
	key := fmt.Sprintf("%x", c.primary.devKey)
	if err := c.api.call(ctx, http.MethodPut, secondary, "sys/replication/dr/secondary/generate-operation-token/update", "", map[string]any{"key": key, "nonce": st.Nonce}, &st); err != nil {
		return "", fmt.Errorf("generate-operation-token update: %w", err)
	}
	if !st.Complete || st.EncodedToken == "" {
		return "", fmt.Errorf("DR operation token generation not complete after the primary's key: %+v", st)
	}
	tok, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		return "", fmt.Errorf("decode DR operation token: %w", err)
	}
	return tok, nil
}

// envelope is Vault's response body.
type envelope struct {
	Data     json.RawMessage `json:"data"`
	Warnings []string        `json:"warnings"`
	WrapInfo *struct {
		Token string `json:"token"`
	} `json:"wrap_info"`
}

// drStatus is the part of sys/replication/dr/status the section reads.
type drStatus struct {
	Mode          string `json:"mode"`
	State         string `json:"state"`
	MerkleRoot    string `json:"merkle_root"`
	LastWAL       uint64 `json:"last_wal"`
	LastRemoteWAL uint64 `json:"last_remote_wal"`
}

// opTokenStatus is generate-operation-token's answer (not in an envelope).
type opTokenStatus struct {
	Nonce        string `json:"nonce"`
	Complete     bool   `json:"complete"`
	EncodedToken string `json:"encoded_token"`
	OTP          string `json:"otp"`
}

// apiClient makes control-plane calls; the measured write loads use their
// own kvWriter connections.
type apiClient struct {
	http *http.Client
	tr   *http.Transport
}

func newAPIClient() *apiClient {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &apiClient{http: &http.Client{Transport: tr, Timeout: requestTimeout}, tr: tr}
}

func (a *apiClient) close() { a.tr.CloseIdleConnections() }

// call sends one request to n's API. Any status but 200 and 204 is an error
// carrying the start of the body. out, when set, receives the JSON body.
func (a *apiClient) call(ctx context.Context, method string, n *serverProc, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.apiAddr+"/v1/"+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	b, rErr := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 300)])))
	}
	if rErr != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, rErr)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// drStatus reads n's sys/replication/dr/status.
func (a *apiClient) drStatus(ctx context.Context, n *serverProc) (drStatus, error) {
	var env envelope
	var st drStatus
	if err := a.call(ctx, http.MethodGet, n, "sys/replication/dr/status", "", nil, &env); err != nil {
		return st, err
	}
	if err := json.Unmarshal(env.Data, &st); err != nil {
		return st, fmt.Errorf("decode DR status: %w", err)
	}
	return st, nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
