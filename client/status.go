package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Replication modes (API.md §4).
const (
	ModePrimary       = "primary"
	ModeSecondary     = "secondary"
	ModeBootstrapping = "bootstrapping"
	ModeDisabled      = "disabled"
)

// StateStreamWALs is the state of a secondary that is caught up and streaming.
const StateStreamWALs = "stream-wals"

// DRStatus is sys/replication/dr/status (API.md §4). Fields that do not
// apply to the cluster's mode are zero.
type DRStatus struct {
	Mode               string
	ClusterID          string
	State              string
	MerkleRoot         string
	LastWAL            uint64
	LastDRWAL          uint64
	LastRemoteWAL      uint64
	LastReindexEpoch   string
	PrimaryClusterAddr string
	// Primary only.
	KnownSecondaries []string
	Secondaries      []PeerInfo
	// Secondary only.
	KnownPrimaryClusterAddrs []string
	Primaries                []PeerInfo
	SecondaryID              string
	ConnectionState          string
}

// IsSecondary reports whether the cluster is a DR secondary (including one
// still bootstrapping its first sync).
func (s *DRStatus) IsSecondary() bool {
	return s.Mode == ModeSecondary || s.Mode == ModeBootstrapping
}

// HasKnownSecondary reports whether id is among the primary's live secondaries.
func (s *DRStatus) HasKnownSecondary(id string) bool {
	for _, k := range s.KnownSecondaries {
		if k == id {
			return true
		}
	}
	return false
}

// PeerInfo is one entry of secondaries[] (on a primary; NodeID set) or
// primaries[] (on a secondary). The *_ms fields are strings, as Vault's Go
// client declares them.
type PeerInfo struct {
	NodeID                  string
	APIAddress              string
	ClusterAddress          string
	ConnectionStatus        string
	LastHeartbeat           string
	LastHeartbeatDurationMS string
	ClockSkewMS             string
}

// flexString decodes a JSON string or number as a string: servers disagree
// on epochs and *_ms fields.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// flexUint decodes a JSON number or numeric string as uint64.
type flexUint uint64

func (f *flexUint) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		return fmt.Errorf("not a WAL index: %q", string(s))
	}
	*f = flexUint(n)
	return nil
}

type wirePeer struct {
	NodeID                  string     `json:"node_id"`
	APIAddress              string     `json:"api_address"`
	ClusterAddress          string     `json:"cluster_address"`
	ConnectionStatus        string     `json:"connection_status"`
	LastHeartbeat           string     `json:"last_heartbeat"`
	LastHeartbeatDurationMS flexString `json:"last_heartbeat_duration_ms"`
	ClockSkewMS             flexString `json:"clock_skew_ms"`
}

type wireDRStatus struct {
	Mode                     string     `json:"mode"`
	ClusterID                string     `json:"cluster_id"`
	State                    string     `json:"state"`
	MerkleRoot               string     `json:"merkle_root"`
	LastWAL                  flexUint   `json:"last_wal"`
	LastDRWAL                flexUint   `json:"last_dr_wal"`
	LastRemoteWAL            flexUint   `json:"last_remote_wal"`
	LastReindexEpoch         flexString `json:"last_reindex_epoch"`
	PrimaryClusterAddr       string     `json:"primary_cluster_addr"`
	KnownSecondaries         []string   `json:"known_secondaries"`
	Secondaries              []wirePeer `json:"secondaries"`
	KnownPrimaryClusterAddrs []string   `json:"known_primary_cluster_addrs"`
	Primaries                []wirePeer `json:"primaries"`
	SecondaryID              string     `json:"secondary_id"`
	ConnectionState          string     `json:"connection_state"`
}

func (w *wireDRStatus) status() *DRStatus {
	peers := func(in []wirePeer) []PeerInfo {
		out := make([]PeerInfo, 0, len(in))
		for _, p := range in {
			out = append(out, PeerInfo{
				NodeID: p.NodeID, APIAddress: p.APIAddress, ClusterAddress: p.ClusterAddress,
				ConnectionStatus: p.ConnectionStatus, LastHeartbeat: p.LastHeartbeat,
				LastHeartbeatDurationMS: string(p.LastHeartbeatDurationMS), ClockSkewMS: string(p.ClockSkewMS),
			})
		}
		return out
	}
	return &DRStatus{
		Mode: w.Mode, ClusterID: w.ClusterID, State: w.State, MerkleRoot: w.MerkleRoot,
		LastWAL: uint64(w.LastWAL), LastDRWAL: uint64(w.LastDRWAL), LastRemoteWAL: uint64(w.LastRemoteWAL),
		LastReindexEpoch: string(w.LastReindexEpoch), PrimaryClusterAddr: w.PrimaryClusterAddr,
		KnownSecondaries: w.KnownSecondaries, Secondaries: peers(w.Secondaries),
		KnownPrimaryClusterAddrs: w.KnownPrimaryClusterAddrs, Primaries: peers(w.Primaries),
		SecondaryID: w.SecondaryID, ConnectionState: w.ConnectionState,
	}
}

// DRStatus reads GET sys/replication/dr/status (no token needed).
func (c *Client) DRStatus(ctx context.Context) (*DRStatus, error) {
	return c.Replication(KindDR).Status(ctx)
}

// ReplicationStatus is sys/replication/status: the status of both
// families.
type ReplicationStatus struct {
	DR          *DRStatus
	Performance *DRStatus
	// PerformanceMode is Performance.Mode.
	PerformanceMode string
}

// ReplicationStatus reads GET sys/replication/status (no token needed).
func (c *Client) ReplicationStatus(ctx context.Context) (*ReplicationStatus, error) {
	env, err := c.logical(ctx, request{method: http.MethodGet, path: "sys/replication/status", retry: retryIdempotent, noToken: true})
	if err != nil {
		return nil, err
	}
	var w struct {
		DR          wireDRStatus `json:"dr"`
		Performance wireDRStatus `json:"performance"`
	}
	if err := json.Unmarshal(env.Data, &w); err != nil {
		return nil, fmt.Errorf("GET sys/replication/status: decode: %w", err)
	}
	return &ReplicationStatus{DR: w.DR.status(), Performance: w.Performance.status(), PerformanceMode: w.Performance.Mode}, nil
}

// HealthOptions are sys/health's query parameters; zero values leave the
// server's defaults (200 active, 429 standby, 472 DR secondary, 473
// performance standby, 503 sealed, 501 not initialised).
type HealthOptions struct {
	StandbyOK              bool
	PerfStandbyOK          bool
	ActiveCode             int
	StandbyCode            int
	DRSecondaryCode        int
	PerformanceStandbyCode int
	SealedCode             int
	UninitCode             int
}

func (o HealthOptions) query() url.Values {
	q := url.Values{}
	if o.StandbyOK {
		q.Set("standbyok", "true")
	}
	if o.PerfStandbyOK {
		q.Set("perfstandbyok", "true")
	}
	for name, code := range map[string]int{
		"activecode": o.ActiveCode, "standbycode": o.StandbyCode, "drsecondarycode": o.DRSecondaryCode,
		"performancestandbycode": o.PerformanceStandbyCode, "sealedcode": o.SealedCode, "uninitcode": o.UninitCode,
	} {
		if code != 0 {
			q.Set(name, strconv.Itoa(code))
		}
	}
	return q
}

// Health is the body of sys/health plus the HTTP status it came with.
type Health struct {
	StatusCode                 int    `json:"-"`
	Initialized                bool   `json:"initialized"`
	Sealed                     bool   `json:"sealed"`
	Standby                    bool   `json:"standby"`
	PerformanceStandby         bool   `json:"performance_standby"`
	ReplicationDRMode          string `json:"replication_dr_mode"`
	ReplicationPerformanceMode string `json:"replication_performance_mode"`
	ServerTimeUTC              int64  `json:"server_time_utc"`
	Version                    string `json:"version"`
	ClusterName                string `json:"cluster_name"`
	ClusterID                  string `json:"cluster_id"`
}

// Health reads GET sys/health. Every status code that sys/health uses for
// a state (2xx, 429, 472, 473, 501, 503 or an override) counts as an
// answer: the body says what the state is.
func (c *Client) Health(ctx context.Context, opts HealthOptions) (*Health, error) {
	h := &Health{}
	codes := map[int]bool{429: true, 472: true, 473: true, 501: true, 503: true}
	for _, code := range []int{opts.ActiveCode, opts.StandbyCode, opts.DRSecondaryCode, opts.PerformanceStandbyCode, opts.SealedCode, opts.UninitCode} {
		if code != 0 {
			codes[code] = true
		}
	}
	resp, err := c.do(ctx, request{
		method: http.MethodGet, path: "sys/health", query: opts.query(), retry: retryHealth, noToken: true,
		okCodes: func(code int) bool { return codes[code] },
	})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp.Body, h); err != nil {
		return nil, fmt.Errorf("GET sys/health: answered %d with a body that is not health JSON: %w", resp.StatusCode, err)
	}
	h.StatusCode = resp.StatusCode
	return h, nil
}

// SealStatus is sys/seal-status.
type SealStatus struct {
	Type        string `json:"type"`
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	T           int    `json:"t"`
	N           int    `json:"n"`
	Progress    int    `json:"progress"`
	Nonce       string `json:"nonce"`
	Version     string `json:"version"`
	ClusterName string `json:"cluster_name"`
	ClusterID   string `json:"cluster_id"`
}

// SealStatus reads GET sys/seal-status (no token needed).
func (c *Client) SealStatus(ctx context.Context) (*SealStatus, error) {
	st := &SealStatus{}
	if _, err := c.rawJSON(ctx, request{method: http.MethodGet, path: "sys/seal-status", retry: retryIdempotent, noToken: true}, st); err != nil {
		return nil, err
	}
	return st, nil
}
