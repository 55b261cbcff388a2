package httpapi

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/ha"
)

// WithHA makes the API answer sys/leader, sys/health, sys/step-down and
// sys/ha-status for a node of an HA cluster.
func (a *API) WithHA(e *ha.Elector) *API {
	a.ha = e
	return a
}

// standby reports whether this node is an HA standby.
func (a *API) standby() bool { return a.ha != nil && !a.ha.Active() }

// haLeader answers sys/leader as Vault's GetLeaderStatus does with an HA
// backend: the active node's addresses from the lock row, active_time and
// last_wal on the active node only.
func (a *API) haLeader(r *request) (response, error) {
	body := map[string]any{
		"ha_enabled":                          true,
		"is_self":                             false,
		"active_time":                         time.Time{},
		"leader_address":                      "",
		"leader_cluster_address":              "",
		"performance_standby":                 false,
		"performance_standby_last_remote_wal": 0,
	}
	if a.core.Seal.Sealed() {
		// Vault answers a sealed node's leader request with an error the
		// CLI recognises.
		return nil, apierr.Unavailable("Vault is sealed")
	}
	leader, ok, err := a.ha.Leader(r.ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		body["leader_address"] = leader.APIAddr
		body["leader_cluster_address"] = leader.ClusterAddr
	}
	if since := a.ha.ActiveSince(); !since.IsZero() {
		body["is_self"] = true
		body["active_time"] = since.UTC()
		if wal := a.core.Store.Position().LastWAL; wal > 0 {
			body["last_wal"] = wal
		}
	}
	return &raw{Body: body}, nil
}

// stepDown is sys/step-down: the active node releases the lock (a standby
// forwards the request to it). As in Vault it answers 204, also on a node
// without HA.
func (a *API) stepDown(r *request) (response, error) {
	if a.ha == nil {
		return noContent{}, nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if err := a.ha.StepDown(ctx); err != nil && !errors.Is(err, ha.ErrNotActive) {
		return nil, err
	}
	return noContent{}, nil
}

// haStatus is sys/ha-status: every node seen recently, the active one
// first-class, sorted by API address as Vault does.
func (a *API) haStatus(r *request) (response, error) {
	if a.ha == nil {
		return nil, apierr.Invalid("this node does not use an HA storage backend (storage \"postgresql\" with ha_enabled)")
	}
	nodes, err := a.ha.Nodes(r.ctx)
	if err != nil {
		return nil, err
	}
	leader, haveLeader, err := a.ha.Leader(r.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(nodes))
	for _, n := range nodes {
		active := haveLeader && n.ID == leader.Holder
		entry := map[string]any{
			"hostname":        n.Hostname,
			"api_address":     n.APIAddr,
			"cluster_address": n.ClusterAddr,
			"active_node":     active,
			"last_echo":       n.LastSeen.UTC(),
			"version":         coreVersion,
		}
		if active {
			entry["last_echo"] = nil // Vault: the active node does not echo to itself
		}
		out = append(out, entry)
	}
	return &logical{Data: map[string]any{"nodes": out}}, nil
}

// boolQuery reads an optional boolean query parameter (standbyok).
func boolQuery(q url.Values, name string) (bool, error) {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false, nil
	}
	if v[0] == "" {
		return true, nil // ?standbyok alone, as Vault's parseutil reads it
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, apierr.Invalid("bad value for %s parameter: want true or false", name)
	}
	return b, nil
}
