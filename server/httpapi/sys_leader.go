package httpapi

import "time"

// leader answers sys/leader as Vault does for a node without an HA backend:
// 200 with ha_enabled false, sealed or not and on DR secondaries too, since
// Vault checks for HA before it checks the seal. The vault CLI's status and
// operator unseal commands call it after printing the seal status and fail on
// anything but this answer or a "Vault is sealed" error.
func (a *API) leader(r *request) (response, error) {
	if a.ha != nil {
		return a.haLeader(r)
	}
	body := map[string]any{
		"ha_enabled":                          false,
		"is_self":                             false,
		"active_time":                         time.Time{}, // Vault's zero time.Time, which omitempty does not drop
		"leader_address":                      "",
		"leader_cluster_address":              "",
		"performance_standby":                 false,
		"performance_standby_last_remote_wal": 0,
	}
	// Vault reports its newest WAL index on a non-HA node (omitted when 0).
	if wal := a.core.Store.Position().LastWAL; wal > 0 {
		body["last_wal"] = wal
	}
	return &raw{Body: body}, nil
}
