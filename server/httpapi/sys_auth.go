package httpapi

import "github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"

// The auth method table. This server has one auth method, the token store,
// built in at auth/token/ as in every Vault; mounts.TokenAuthMount is its one
// description, shared with sys/internal/ui/mounts.

// listAuth serves GET sys/auth.
func (a *API) listAuth(_ *request) (response, error) {
	e := mounts.TokenAuthMount()
	return &logical{Data: map[string]any{"token/": mountInfo(&e)}}, nil
}

// tokenAuthTune serves GET sys/auth/token/tune: the system TTLs, which the
// token store uses since its own are unset.
func (a *API) tokenAuthTune(_ *request) (response, error) {
	return &logical{Data: map[string]any{
		"description":       mounts.TokenAuthMount().Description,
		"default_lease_ttl": systemMaxLeaseSeconds,
		"max_lease_ttl":     systemMaxLeaseSeconds,
		"force_no_cache":    false,
		"token_type":        "default-service",
	}}, nil
}
