package httpapi

import (
	"encoding/json"
	"fmt"
)

// failovers answers GET sys/vaultrepl/dr/failovers, an extension of this
// server (Vault has no such path; the vaultrepl/ segment keeps it out of
// Vault's namespace): the DR set's failover history and what this cluster
// discarded as a re-pointed old primary.
func (a *API) failovers(r *request) (response, error) {
	h, err := a.core.Repl.History(r.ctx)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode failover history: %w", err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, fmt.Errorf("encode failover history: %w", err)
	}
	return &logical{Data: data}, nil
}
