package httpapi

import (
	"net/http"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
)

// A performance secondary serves reads from its own copy and keeps its own
// tokens; a write to replicated data belongs to the primary.

// perfLocalPrefixes are the paths a performance secondary serves itself
// whatever the method: its tokens, its replication and seal controls.
var perfLocalPrefixes = []string{
	"auth/token/create", "auth/token/lookup", "auth/token/revoke", "auth/token/renew",
	"sys/replication/", "sys/generate-root/", "sys/seal", "sys/unseal",
	"sys/wrapping/", "sys/capabilities", "sys/step-down",
}

// errPerfWrite is the answer to a write on a replicated path of a
// performance secondary until writes are forwarded to the primary.
const errPerfWrite = "this cluster is a performance secondary: writes to replicated paths are served by the performance primary; send this request to the primary (forwarding from the secondary is not built yet)"

// perfSecondaryRefuses says whether a performance secondary must not
// serve this request itself.
func (a *API) perfSecondaryRefuses(rt *route, path string) bool {
	switch rt.method {
	case http.MethodGet, http.MethodHead, methodList:
		return false
	}
	if a.core.Perf.Mode() != replication.ModeSecondary {
		return false
	}
	for _, p := range perfLocalPrefixes {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}
