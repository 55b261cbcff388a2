// Package replication is DR and performance replication (kind.go): the
// state machine behind the sys/replication/dr and
// sys/replication/performance endpoints (primary, secondary, disabled),
// activation tokens, and the data plane that streams the primary's WAL to
// secondaries over mutual TLS and repairs divergence with a merkle sync.
package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Modes of a cluster in DR replication.
const (
	ModeDisabled  = "disabled"
	ModePrimary   = "primary"
	ModeSecondary = "secondary"
	// ModeBootstrapping is what status shows for a secondary whose first
	// sync has not finished.
	ModeBootstrapping = "bootstrapping"
)

const stateKey = "replication/dr/state"

// state is the durable DR state of this cluster. It lives in the local
// keyspace: a secondary must never receive its primary's keys or role.
type state struct {
	Mode      string `json:"mode"`
	ClusterID string `json:"cluster_id,omitempty"`

	// As a primary: the address secondaries dial, the DR CA, the cluster
	// port's server certificate, the activation-token signing key and the
	// secondaries this primary issued certificates to.
	PrimaryClusterAddr string                      `json:"primary_cluster_addr,omitempty"`
	CACert             string                      `json:"ca_cert,omitempty"`
	ServerCert         string                      `json:"server_cert,omitempty"`
	ServerKey          string                      `json:"server_key,omitempty"`
	Secondaries        map[string]*secondaryRecord `json:"secondaries,omitempty"`
	// PathsFilters are a performance primary's filters by secondary id
	// (filter.go); DR has none.
	PathsFilters map[string]*PathsFilter `json:"paths_filters,omitempty"`

	// As a secondary: who it is and where its primary is.
	SecondaryID              string   `json:"secondary_id,omitempty"`
	PrimaryAPIAddr           string   `json:"primary_api_addr,omitempty"`
	PrimaryCACert            string   `json:"primary_ca_cert,omitempty"`
	ClientCert               string   `json:"client_cert,omitempty"`
	ClientKey                string   `json:"client_key,omitempty"`
	KnownPrimaryClusterAddrs []string `json:"known_primary_cluster_addrs,omitempty"`
	Bootstrapped             bool     `json:"bootstrapped,omitempty"`

	// Any mode.
	LastReindexEpoch int64 `json:"last_reindex_epoch,omitempty"`

	// The keys only an unsealed cluster uses (the DR CA's, the activation
	// token signing key, generate-public-key's private half) are kept in
	// SealedSecrets, encrypted by the barrier; the rest of the state stays
	// plain because a sealed node keeps its stream (secrets.go).
	drSecrets     `json:"-"`
	SealedSecrets []byte `json:"sealed_secrets,omitempty"`
	// legacyPlain: drSecrets are stored in plain text (no barrier yet).
	legacyPlain bool
	// TokenScope is new random text on every mode change (and every
	// re-pointing of a secondary). DR operation tokens are bound to it, with
	// the DR set and mode, so none survives a change of role.
	TokenScope string `json:"token_scope,omitempty"`
}

// opTokenScope is what DR operation tokens generated now are bound to.
func (s *state) opTokenScope() string {
	return s.ClusterID + "|" + s.Mode + "|" + s.TokenScope
}

// newTokenScope gives next a fresh TokenScope: every DR operation token
// generated before is void once next is committed.
func newTokenScope(next *state) error {
	id, err := newUUID()
	if err != nil {
		return err
	}
	next.TokenScope = id
	return nil
}

// secondaryRecord is what a primary remembers of a secondary it admitted.
type secondaryRecord struct {
	Fingerprint string `json:"fingerprint"` // of the client certificate issued with its token
	IssuedAt    int64  `json:"issued_at"`
	// ClusterAddr is the cluster address the secondary reported (a DR
	// primary advertises it to its performance secondaries: following.go).
	ClusterAddr string `json:"cluster_addr,omitempty"`
}

// hasPrimary says whether a secondary has a primary to follow.
func (s *state) hasPrimary() bool {
	return s.Mode == ModeSecondary && s.PrimaryClusterAddr != "" && s.ClientCert != ""
}

func (s *state) knownSecondaries() []string {
	ids := make([]string, 0, len(s.Secondaries))
	for id := range s.Secondaries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *state) clone() *state {
	c := *s
	c.Secondaries = make(map[string]*secondaryRecord, len(s.Secondaries))
	for k, v := range s.Secondaries {
		r := *v
		c.Secondaries[k] = &r
	}
	c.KnownPrimaryClusterAddrs = slices.Clone(s.KnownPrimaryClusterAddrs)
	c.PathsFilters = make(map[string]*PathsFilter, len(s.PathsFilters))
	for k, v := range s.PathsFilters {
		f := *v
		f.Paths = slices.Clone(v.Paths)
		c.PathsFilters[k] = &f
	}
	return &c
}

func loadState(ctx context.Context, store *storage.Store, key string) (*state, error) {
	raw, err := store.LocalGet(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return &state{Mode: ModeDisabled}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read DR state: %w", err)
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("decode DR state: %w", err)
	}
	if st.Mode == "" {
		st.Mode = ModeDisabled
	}
	// A state written before the barrier (or without one) holds its keys
	// in plain text; they stay so until the first unseal seals them.
	if err := json.Unmarshal(raw, &st.drSecrets); err != nil {
		return nil, fmt.Errorf("decode DR state: %w", err)
	}
	st.legacyPlain = st.drSecrets != (drSecrets{})
	return &st, nil
}

// op is the storage change that records st, for writing together with
// whatever else a transition changes; stateOp (secrets.go) seals the keys
// first.
func (s *state) op(key string) (storage.Op, error) {
	raw, err := json.Marshal(s)
	if err == nil && s.legacyPlain {
		raw, err = withPlainSecrets(raw, s.drSecrets)
	}
	if err != nil {
		return storage.Op{}, fmt.Errorf("encode DR state: %w", err)
	}
	return storage.Op{Local: true, Key: key, Value: raw}, nil
}
