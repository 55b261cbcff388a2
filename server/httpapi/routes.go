package httpapi

import "net/http"

// routes is the whole API surface in one table: what each path needs
// (token, sudo, served while sealed) is declared here, not in handlers.
func (a *API) routes() []*route {
	return []*route{
		// The cluster's own life: open to all, served while sealed.
		{method: http.MethodGet, path: "sys/init", auth: authNone, sealed: true, dr: true, handle: a.initStatus},
		{method: http.MethodPut, path: "sys/init", auth: authNone, sealed: true, handle: a.initialize},
		{method: http.MethodGet, path: "sys/seal-status", auth: authNone, sealed: true, dr: true, handle: a.sealStatus},
		{method: http.MethodPut, path: "sys/unseal", auth: authNone, sealed: true, dr: true, handle: a.unseal},
		{method: http.MethodPut, path: "sys/seal", sudo: true, handle: a.seal},
		{method: http.MethodGet, path: "sys/health", auth: authNone, sealed: true, dr: true, handle: a.health},
		{method: http.MethodHead, path: "sys/health", auth: authNone, sealed: true, dr: true, handle: a.health},
		{method: http.MethodGet, path: "sys/leader", auth: authNone, sealed: true, dr: true, handle: a.leader},
		// HA (sys_ha.go): step-down and ha-status reach the active node
		// (a standby forwards them, see server/ha).
		{method: http.MethodPut, path: "sys/step-down", sudo: true, handle: a.stepDown},
		{method: http.MethodGet, path: "sys/ha-status", handle: a.haStatus},
		// Root token generation from unseal key shares (sys_generate_root.go).
		{method: http.MethodGet, path: "sys/generate-root/attempt", auth: authNone, handle: a.generateRootStatus},
		{method: http.MethodPut, path: "sys/generate-root/attempt", auth: authNone, handle: a.generateRootStart},
		{method: http.MethodDelete, path: "sys/generate-root/attempt", auth: authNone, handle: a.generateRootCancel},
		{method: http.MethodPut, path: "sys/generate-root/update", auth: authNone, handle: a.generateRootUpdate},
		{method: http.MethodGet, path: "sys/metrics", dr: true, handle: a.metrics},
		// The barrier's keys (sys_barrier.go).
		{method: http.MethodPut, path: "sys/rotate", sudo: true, handle: a.rotate},
		{method: http.MethodGet, path: "sys/key-status", handle: a.keyStatus},
		{method: http.MethodGet, path: "sys/rekey/init", auth: authNone, handle: a.rekeyStatus},
		{method: http.MethodPut, path: "sys/rekey/init", auth: authNone, handle: a.rekeyInit},
		{method: http.MethodDelete, path: "sys/rekey/init", auth: authNone, handle: a.rekeyCancel},
		{method: http.MethodPut, path: "sys/rekey/update", auth: authNone, handle: a.rekeyUpdate},
		{method: http.MethodGet, path: "sys/rekey/verify", auth: authNone, handle: a.rekeyVerifyStatus},
		{method: http.MethodPut, path: "sys/rekey/verify", auth: authNone, handle: a.rekeyVerifyUpdate},
		{method: http.MethodDelete, path: "sys/rekey/verify", auth: authNone, handle: a.rekeyVerifyCancel},

		// DR replication (API.md §3): served on DR secondaries too.
		{method: http.MethodGet, path: "sys/replication/status", auth: authNone, dr: true, handle: a.replicationStatus},
		{method: http.MethodGet, path: "sys/replication/dr/status", auth: authNone, dr: true, handle: a.drStatus},
		{method: http.MethodPut, path: "sys/replication/dr/primary/enable", dr: true, handle: a.enablePrimary},
		{method: http.MethodPut, path: "sys/replication/dr/primary/demote", dr: true, handle: a.demotePrimary},
		{method: http.MethodPut, path: "sys/replication/dr/primary/disable", dr: true, handle: a.disablePrimary},
		{method: http.MethodPut, path: "sys/replication/dr/primary/secondary-token", sudo: true, dr: true, handle: a.secondaryToken},
		{method: http.MethodPut, path: "sys/replication/dr/primary/revoke-secondary", dr: true, handle: a.revokeSecondary},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/generate-public-key", dr: true, handle: a.generatePublicKey},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/enable", dr: true, handle: a.enableSecondary},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/promote", auth: authDROperation, dr: true, handle: a.promote},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/disable", auth: authTokenOrDROperation, dr: true, handle: a.disableSecondary},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/update-primary", auth: authDROperation, dr: true, handle: a.updatePrimary},
		{method: http.MethodGet, path: "sys/replication/dr/secondary/generate-operation-token/attempt", auth: authNone, dr: true, handle: a.opTokenStatus},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/generate-operation-token/attempt", auth: authNone, dr: true, handle: a.opTokenStart},
		{method: http.MethodDelete, path: "sys/replication/dr/secondary/generate-operation-token/attempt", auth: authNone, dr: true, handle: a.opTokenCancel},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/generate-operation-token/update", auth: authNone, dr: true, handle: a.opTokenUpdate},
		{method: http.MethodPut, path: "sys/replication/dr/secondary/operation-token/delete", auth: authDROperation, dr: true, handle: a.opTokenDelete},
		// Performance replication: the same state machine, the other family.
		{method: http.MethodGet, path: "sys/replication/performance/status", auth: authNone, dr: true, handle: a.performanceStatus},
		{method: http.MethodPut, path: "sys/replication/performance/primary/enable", dr: true, handle: a.enablePrimary},
		{method: http.MethodPut, path: "sys/replication/performance/primary/demote", dr: true, handle: a.demotePrimary},
		{method: http.MethodPut, path: "sys/replication/performance/primary/disable", dr: true, handle: a.disablePrimary},
		{method: http.MethodPut, path: "sys/replication/performance/primary/secondary-token", sudo: true, dr: true, handle: a.secondaryToken},
		{method: http.MethodPut, path: "sys/replication/performance/primary/revoke-secondary", dr: true, handle: a.revokeSecondary},
		{method: http.MethodPut, path: "sys/replication/performance/secondary/generate-public-key", dr: true, handle: a.generatePublicKey},
		{method: http.MethodPut, path: "sys/replication/performance/secondary/enable", dr: true, handle: a.enableSecondary},
		{method: http.MethodPut, path: "sys/replication/performance/secondary/disable", dr: true, handle: a.disableSecondary},
		// A performance secondary serves tokens, so these take an ordinary
		// one (Vault's DR secondaries need a DR operation token instead).
		{method: http.MethodPut, path: "sys/replication/performance/secondary/update-primary", dr: true, handle: a.updatePrimary},
		{method: http.MethodPut, path: "sys/replication/performance/secondary/promote", dr: true, handle: a.promote},
		{method: http.MethodGet, path: "sys/replication/performance/primary/paths-filter/:id", dr: true, handle: a.readPathsFilter},
		{method: http.MethodPut, path: "sys/replication/performance/primary/paths-filter/:id", dr: true, handle: a.writePathsFilter},
		{method: http.MethodDelete, path: "sys/replication/performance/primary/paths-filter/:id", dr: true, handle: a.deletePathsFilter},
		{method: http.MethodGet, path: "sys/replication/performance/primary/dynamic-filter/:id", dr: true, handle: a.readDynamicFilter},
		{method: http.MethodPut, path: "sys/replication/recover", dr: true, handle: a.recoverReplication},
		{method: http.MethodPut, path: "sys/replication/reindex", sudo: true, dr: true, handle: a.reindex},
		// Failover evidence: an extension outside Vault's paths (sys_failovers.go).
		{method: http.MethodGet, path: "sys/vaultrepl/dr/failovers", dr: true, handle: a.failovers},
		{method: http.MethodPut, path: "sys/wrapping/unwrap", auth: authNone, handle: a.unwrap},
		{method: http.MethodGet, path: "sys/wrapping/lookup", auth: authNone, dr: true, handle: a.wrapLookup},
		{method: http.MethodPut, path: "sys/wrapping/lookup", auth: authNone, dr: true, handle: a.wrapLookup},

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
		{method: http.MethodPut, path: "sys/capabilities", handle: a.capabilities},
		{method: http.MethodPut, path: "sys/capabilities-accessor", handle: a.capabilitiesAccessor},

		// Auth methods: the built-in token store only.
		{method: http.MethodGet, path: "sys/auth", handle: a.listAuth},
		{method: http.MethodGet, path: "sys/auth/token/tune", sudo: true, handle: a.tokenAuthTune},

		// The mount table (mount_dispatch.go sends requests to the mounts).
		{method: http.MethodGet, path: "sys/mounts", handle: a.mounts},
		{method: http.MethodGet, path: "sys/mounts/*path", handle: a.readMount},
		{method: http.MethodPut, path: "sys/mounts/*path", handle: a.writeMount},
		{method: http.MethodDelete, path: "sys/mounts/*path", handle: a.deleteMount},
		{method: http.MethodPut, path: "sys/remount", sudo: true, handle: a.remount},
		{method: http.MethodGet, path: "sys/remount/status/:id", handle: a.remountStatus},
		{method: http.MethodGet, path: "sys/internal/ui/mounts/*path", auth: authTokenOnly, handle: a.internalMount},

		// Tokens and roles.
		{method: http.MethodPut, path: "auth/token/create", handle: a.createToken},
		{method: http.MethodPut, path: "auth/token/create-orphan", handle: a.createToken},
		{method: http.MethodPut, path: "auth/token/create/:role", handle: a.createToken},
		{method: http.MethodGet, path: "auth/token/lookup-self", handle: a.lookupSelf},
		{method: http.MethodPut, path: "auth/token/lookup", handle: a.lookupToken},
		{method: http.MethodPut, path: "auth/token/revoke", handle: a.revokeToken},
		{method: http.MethodPut, path: "auth/token/revoke-self", handle: a.revokeSelf},
		{method: http.MethodPut, path: "auth/token/revoke-accessor", handle: a.revokeAccessor},
		{method: http.MethodPut, path: "auth/token/lookup-accessor", handle: a.lookupAccessor},
		{method: http.MethodPut, path: "auth/token/renew", handle: a.renewToken},
		{method: http.MethodPut, path: "auth/token/renew-self", handle: a.renewSelf},
		{method: http.MethodPut, path: "auth/token/renew-accessor", handle: a.renewAccessor},
		{method: methodList, path: "auth/token/roles", handle: a.listRoles},
		{method: http.MethodGet, path: "auth/token/roles/:name", handle: a.readRole},
		{method: http.MethodPut, path: "auth/token/roles/:name", handle: a.writeRole},
		{method: http.MethodDelete, path: "auth/token/roles/:name", handle: a.deleteRole},
	}
}
