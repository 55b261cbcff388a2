package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
)

// Mounts change at run time and httprouter's table cannot, so every path
// that no static route serves comes here (the router's NotFound) and is sent
// to the mount that encloses it. The request then goes through serve() like
// any other: seal, DR gate, body, token and ACL on the logical path.

// serveMount serves r if a mount encloses its path and says whether it did.
func (a *API) serveMount(w http.ResponseWriter, hr *http.Request) bool {
	path, ok := strings.CutPrefix(hr.URL.Path, "/v1/")
	if !ok || a.core.Seal.Sealed() || a.core.Repl.Mode() == replication.ModeSecondary {
		return false // notFound answers sealed and DR-secondary requests as serve() would
	}
	entry, err := a.core.Mounts.MatchShared(hr.Context(), path)
	if err != nil {
		a.fail(w, hr, err)
		return true
	}
	if entry == nil {
		return false
	}
	method := hr.Method
	switch {
	case method == http.MethodPost:
		method = http.MethodPut
	case method == http.MethodGet && isListQuery(hr):
		method = methodList
	}
	h := a.mountHandler(method, entry, mountRest(path, entry.Path))
	if h == nil {
		writeErrors(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not supported on %s", hr.Method, hr.URL.Path))
		return true
	}
	h(w, hr, nil)
	return true
}

// onMount wraps a mount handler: under the table's shared lock it finds the
// mount again, so a request never writes into a mount that was disabled or
// moved after it was matched. The handler gets the cached table's entry
// (MatchShared): it reads it and must not modify it.
func (a *API) onMount(matched *mounts.Entry, h func(r *request, e *mounts.Entry, rest string) (response, error)) handlerFunc {
	// Only the identity is kept: the handler may be cached (mount_routes.go)
	// and must not hold on to an old table.
	uuid, path := matched.UUID, matched.Path
	return func(r *request) (response, error) {
		a.core.Mounts.RLock()
		defer a.core.Mounts.RUnlock()
		e, err := a.core.Mounts.MatchShared(r.ctx, r.path)
		if err != nil {
			return nil, err
		}
		if e == nil || e.UUID != uuid || e.Path != path {
			return nil, apierr.NotFound("no handler for route %q. route entry not found.", r.path)
		}
		rest := mountRest(r.path, e.Path)
		return h(r, e, rest)
	}
}

// existsOnMount is onMount for a route's create-versus-update check.
func (a *API) existsOnMount(matched *mounts.Entry, f func(r *request, e *mounts.Entry, rest string) (bool, error)) func(r *request) (bool, error) {
	uuid := matched.UUID
	return func(r *request) (bool, error) {
		e, err := a.core.Mounts.MatchShared(r.ctx, r.path)
		if err != nil || e == nil || e.UUID != uuid {
			return false, err
		}
		rest := mountRest(r.path, e.Path)
		return f(r, e, rest)
	}
}

// mountRest is the part of path after the mount ("" for the mount itself).
func mountRest(path, mount string) string {
	if path+"/" == mount {
		return ""
	}
	return strings.TrimPrefix(path, mount)
}
