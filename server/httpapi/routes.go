package httpapi

import "net/http"

// routes is the whole API surface in one table: what each path needs
// (token, sudo, served while sealed) is declared here, not in handlers.
func (a *API) routes() []*route {
	return []*route{
		// The cluster's own life: open to all, served while sealed.
		{method: http.MethodGet, path: "sys/init", auth: authNone, sealed: true, handle: a.initStatus},
		{method: http.MethodPut, path: "sys/init", auth: authNone, sealed: true, handle: a.initialize},
		{method: http.MethodGet, path: "sys/seal-status", auth: authNone, sealed: true, handle: a.sealStatus},
		{method: http.MethodPut, path: "sys/unseal", auth: authNone, sealed: true, handle: a.unseal},
		{method: http.MethodPut, path: "sys/seal", sudo: true, handle: a.seal},
		{method: http.MethodGet, path: "sys/health", auth: authNone, sealed: true, handle: a.health},
		{method: http.MethodHead, path: "sys/health", auth: authNone, sealed: true, handle: a.health},

		// Policies, under both of Vault's paths.
		{method: methodList, path: "sys/policies/acl", handle: a.listPolicies},
		{method: http.MethodGet, path: "sys/policies/acl/:name", handle: a.readPolicy},
		{method: http.MethodPut, path: "sys/policies/acl/:name", handle: a.writePolicy},
		{method: http.MethodDelete, path: "sys/policies/acl/:name", handle: a.deletePolicy},
		{method: http.MethodGet, path: "sys/policy", handle: a.listPoliciesLegacy},
		{method: methodList, path: "sys/policy", handle: a.listPoliciesLegacy},
		{method: http.MethodGet, path: "sys/policy/:name", handle: a.readPolicyLegacy},
		{method: http.MethodPut, path: "sys/policy/:name", handle: a.writePolicy},
		{method: http.MethodDelete, path: "sys/policy/:name", handle: a.deletePolicy},
		{method: http.MethodPut, path: "sys/capabilities-self", handle: a.capabilitiesSelf},

		// Mount discovery, which the vault CLI's kv commands ask first.
		{method: http.MethodGet, path: "sys/mounts", handle: a.mounts},
		{method: http.MethodGet, path: "sys/internal/ui/mounts/*path", auth: authTokenOnly, handle: a.mountInfo},

		// Tokens and roles.
		{method: http.MethodPut, path: "auth/token/create", handle: a.createToken},
		{method: http.MethodPut, path: "auth/token/create-orphan", handle: a.createToken},
		{method: http.MethodPut, path: "auth/token/create/:role", handle: a.createToken},
		{method: http.MethodGet, path: "auth/token/lookup-self", handle: a.lookupSelf},
		{method: http.MethodPut, path: "auth/token/lookup", handle: a.lookupToken},
		{method: http.MethodPut, path: "auth/token/revoke", handle: a.revokeToken},
		{method: http.MethodPut, path: "auth/token/revoke-self", handle: a.revokeSelf},
		{method: http.MethodPut, path: "auth/token/revoke-accessor", handle: a.revokeAccessor},
		{method: methodList, path: "auth/token/roles", handle: a.listRoles},
		{method: http.MethodGet, path: "auth/token/roles/:name", handle: a.readRole},
		{method: http.MethodPut, path: "auth/token/roles/:name", handle: a.writeRole},
		{method: http.MethodDelete, path: "auth/token/roles/:name", handle: a.deleteRole},

		// The KV v1 mount.
		{method: methodList, path: "secret", handle: a.listSecrets},
		{method: http.MethodGet, path: "secret/*path", handle: a.readSecret},
		{method: http.MethodPut, path: "secret/*path", exists: a.secretExists, handle: a.writeSecret},
		{method: http.MethodDelete, path: "secret/*path", handle: a.deleteSecret},
		{method: methodList, path: "secret/*path", handle: a.listSecrets},
	}
}
