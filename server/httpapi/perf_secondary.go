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
// a write that is not to this cluster's own tokens, controls or local
// mounts (enabling one included).
func (a *API) perfSecondaryForwards(rt *route, req *request) bool {
	path := req.path
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
	var e *mounts.Entry
	var err error
	if rest, ok := strings.CutPrefix(path, "sys/mounts/"); ok {
		if req.params != nil && req.params.Bool("local", false) {
			return false
		}
		e, err = a.core.Mounts.Get(req.ctx, rest)
	} else {
		e, err = a.core.Mounts.Match(req.ctx, path)
	}
	return err != nil || e == nil || !e.InLocalTable
}

// forward sends an authorised request to the performance primary and
// answers with its response.
func (a *API) forward(w http.ResponseWriter, req *request) {
	body, err := json.Marshal(req.body)
	if err != nil {
		a.fail(w, req.http, fmt.Errorf("encode forwarded body: %w", err))
		return
	}
	method := req.http.Method
	if method == methodList {
		method = http.MethodGet
	}
	resp, err := a.core.Perf.Forward(req.ctx, replication.ForwardRequest{
		Method: method, Path: req.http.URL.Path, Query: req.http.URL.RawQuery, Body: body,
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

// awaitIndex makes a request carrying X-Vault-Index wait, on a performance
// secondary, until that position is applied here (or answers 412).
func (a *API) awaitIndex(req *request) error {
	h := req.http.Header.Get("X-Vault-Index")
	if h == "" || a.core.Perf.Mode() != replication.ModeSecondary {
		return nil
	}
	return a.core.Perf.WaitForIndex(req.ctx, h, indexWait)
}
