package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
)

// A performance secondary serves reads from its own copy and keeps its own
// tokens; a write to replicated data is authorised here (this cluster's
// token and ACL) and forwarded to the primary, whose answer it returns with
// the primary's X-Vault-Index.

// perfLocalPrefixes are the paths a performance secondary serves itself
// whatever the method: its tokens, its replication and seal controls.
var perfLocalPrefixes = []string{
	"auth/token/create", "auth/token/lookup", "auth/token/revoke", "auth/token/renew",
	"sys/replication/", "sys/generate-root/", "sys/seal", "sys/unseal",
	"sys/wrapping/", "sys/capabilities", "sys/step-down",
}

// indexWait bounds how long a request carrying X-Vault-Index waits for this
// secondary to apply that position before it answers 412.
const indexWait = 2 * time.Second

// perfSecondaryForwards says whether this request goes to the primary:
// one not to this cluster's own tokens, controls or local mounts (enabling
// one included) that is a write, or whose X-Vault-Index is not applied
// here and asks to be forwarded (inconsistent, from awaitIndex). Asked
// after the body is read, which says whether a mount being enabled is
// local.
func (a *API) perfSecondaryForwards(rt *route, req *request, inconsistent bool) bool {
	write := true
	switch rt.method {
	case http.MethodGet, http.MethodHead, methodList:
		write = false
	}
	return (write || inconsistent) && a.core.Perf.Mode() == replication.ModeSecondary && !a.perfSecondaryOwns(req)
}

// perfSecondaryOwns says whether a performance secondary serves this path
// from its own state whatever the method: its tokens and controls, its
// local mounts, and enabling one.
func (a *API) perfSecondaryOwns(req *request) bool {
	path := req.path
	for _, p := range perfLocalPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	var e *mounts.Entry
	var err error
	if rest, ok := strings.CutPrefix(path, "sys/mounts/"); ok {
		if req.params != nil && req.params.Bool("local", false) {
			return true
		}
		e, err = a.core.Mounts.Get(req.ctx, rest)
	} else {
		e, err = a.core.Mounts.MatchShared(req.ctx, path)
	}
	return err == nil && e != nil && e.InLocalTable
}

// forward sends an authorised request to the performance primary and
// answers with its response.
func (a *API) forward(w http.ResponseWriter, req *request) {
	body, err := json.Marshal(req.body)
	if err != nil {
		a.fail(w, req.http, fmt.Errorf("encode forwarded body: %w", err))
		return
	}
	method, query := req.http.Method, req.http.URL.RawQuery
	if method == methodList {
		// The primary's API takes a LIST as GET ?list=true, as Vault's does.
		q := req.http.URL.Query()
		q.Set("list", "true")
		method, query = http.MethodGet, q.Encode()
	}
	resp, err := a.core.Perf.Forward(req.ctx, replication.ForwardRequest{
		Method: method, Path: req.http.URL.Path, Query: query, Body: body,
	})
	if err != nil {
		a.fail(w, req.http, err)
		return
	}
	if resp.ContentType != "" {
		w.Header().Set("Content-Type", resp.ContentType)
	}
	w.Header().Set("X-Vault-Index", resp.Index)
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// readForwarded decodes the body of a request a performance secondary
// forwarded; it was authorised there.
func (a *API) readForwarded(w http.ResponseWriter, req *request) error {
	body, err := readBody(w, req.http, authedBodyLimits)
	if err != nil {
		return err
	}
	req.body = body
	req.params = newParams(body, req.http.URL.Query())
	return nil
}

// inconsistentForward is Vault's X-Vault-Inconsistent value asking that a
// request whose X-Vault-Index is not applied here be forwarded rather than
// wait (the other value, "fail", is the default: wait, then 412).
const inconsistentForward = "forward-active-node"

// awaitIndex makes a request carrying X-Vault-Index wait, on a performance
// secondary, until that position is applied here (or answers 412). With
// X-Vault-Inconsistent: forward-active-node a request to replicated data
// does not wait: forward says to send it to the primary, which has every
// position it issued. Paths the secondary owns are not forwarded.
func (a *API) awaitIndex(req *request) (forward bool, err error) {
	h := req.http.Header.Get("X-Vault-Index")
	if h == "" || a.core.Perf.Mode() != replication.ModeSecondary {
		return false, nil
	}
	if req.http.Header.Get("X-Vault-Inconsistent") == inconsistentForward && !a.perfSecondaryOwns(req) {
		applied, err := a.core.Perf.IndexApplied(h)
		return !applied, err
	}
	return false, a.core.Perf.WaitForIndex(req.ctx, h, indexWait)
}
