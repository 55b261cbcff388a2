package httpapi

// The auth method table. This server has one auth method, the token store,
// built in at auth/token/ as in every Vault. Its accessor and uuid are fixed
// (Vault makes them random once per cluster) so that every cluster of a DR
// set shows the same ones; they match the auth/token/ entry that
// sys/internal/ui/mounts reports.
const (
	tokenAuthAccessor    = "auth_token_5ec7e7f1"
	tokenAuthUUID        = "b3a5c1f0-7f43-4c3e-9b7c-0c5f1a0e5e02"
	tokenAuthDescription = "token based credentials"
)

// tokenAuthMount is the token method as sys/auth lists it (Vault's
// SystemBackend.mountInfo for a credential mount).
func tokenAuthMount() map[string]any {
	return map[string]any{
		"type":                    "token",
		"description":             tokenAuthDescription,
		"accessor":                tokenAuthAccessor,
		"uuid":                    tokenAuthUUID,
		"local":                   false,
		"seal_wrap":               false,
		"external_entropy_access": false,
		"options":                 nil,
		"plugin_version":          "",
		"running_plugin_version":  "",
		"running_sha256":          "",
		"config": map[string]any{
			"default_lease_ttl": 0,
			"max_lease_ttl":     0,
			"force_no_cache":    false,
			"token_type":        "default-service",
		},
	}
}

// listAuth serves GET sys/auth.
func (a *API) listAuth(_ *request) (response, error) {
	return &logical{Data: map[string]any{"token/": tokenAuthMount()}}, nil
}

// tokenAuthTune serves GET sys/auth/token/tune: the system TTLs, which the
// token store uses since its own are unset.
func (a *API) tokenAuthTune(_ *request) (response, error) {
	return &logical{Data: map[string]any{
		"description":       tokenAuthDescription,
		"default_lease_ttl": systemLeaseSeconds,
		"max_lease_ttl":     systemLeaseSeconds,
		"force_no_cache":    false,
		"token_type":        "default-service",
	}}, nil
}

// systemLeaseSeconds is Vault's system default and max lease TTL (768h),
// which the token store's TTLs in server/auth follow.
const systemLeaseSeconds = 768 * 60 * 60
