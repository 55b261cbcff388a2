package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
)

func (a *API) initStatus(r *request) (response, error) {
	ok, err := a.core.Seal.Initialized(r.ctx)
	if err != nil {
		return nil, err
	}
	return &raw{Body: map[string]any{"initialized": ok}}, nil
}

func (a *API) initialize(r *request) (response, error) {
	p := r.params
	shares := p.Int("secret_shares", 0)
	threshold := p.Int("secret_threshold", 0)
	// The Go client always sends these; empty means "not used".
	pgp := p.Strings("pgp_keys")
	rootPGP := p.String("root_token_pgp_key")
	p.Int("stored_shares", 0)
	p.Int("recovery_shares", 0)
	p.Int("recovery_threshold", 0)
	p.Strings("recovery_pgp_keys")
	if len(pgp) > 0 || rootPGP != "" {
		p.errs = append(p.errs, "PGP-encrypted key shares are not supported by this server: omit pgp_keys and root_token_pgp_key")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	res, err := a.core.Initialize(r.ctx, shares, threshold, "")
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(res.Keys))
	keysB64 := make([]string, len(res.Keys))
	for i, k := range res.Keys {
		keys[i] = hex.EncodeToString(k)
		keysB64[i] = base64.StdEncoding.EncodeToString(k)
	}
	return &raw{Body: map[string]any{"keys": keys, "keys_base64": keysB64, "root_token": res.RootToken}}, nil
}

func (a *API) sealStatusBody(r *request) (map[string]any, error) {
	st, err := a.core.Seal.Status(r.ctx)
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"type":          st.Type,
		"initialized":   st.Initialized,
		"sealed":        st.Sealed,
		"t":             st.T,
		"n":             st.N,
		"progress":      st.Progress,
		"nonce":         st.Nonce,
		"version":       coreVersion,
		"build_date":    buildDate,
		"migration":     false,
		"recovery_seal": false,
		"storage_type":  "sqlite",
	}
	if st.Initialized {
		id, err := a.core.Identity(r.ctx)
		if err != nil {
			return nil, err
		}
		body["cluster_name"] = id.Name
		body["cluster_id"] = id.ID
	}
	return body, nil
}

func (a *API) sealStatus(r *request) (response, error) {
	body, err := a.sealStatusBody(r)
	if err != nil {
		return nil, err
	}
	return &raw{Body: body}, nil
}

func (a *API) unseal(r *request) (response, error) {
	p := r.params
	reset := p.Bool("reset", false)
	key := strings.TrimSpace(p.String("key"))
	p.Bool("migrate", false)
	if err := p.Err(); err != nil {
		return nil, err
	}
	switch {
	case reset:
		a.core.Seal.ResetUnseal()
	case key == "":
		p.Require("key")
		return nil, p.Err()
	default:
		if _, err := a.core.Seal.Unseal(r.ctx, key); err != nil {
			return nil, err
		}
	}
	return a.sealStatus(r)
}

func (a *API) seal(_ *request) (response, error) {
	a.core.Seal.Seal()
	return noContent{}, nil
}

func (a *API) health(r *request) (response, error) {
	q := r.http.URL.Query()
	var bad []string
	code := func(name string, def int) int {
		v := q.Get(name)
		if v == "" {
			return def
		}
		n, err := parseStatusCode(v)
		if err != nil {
			bad = append(bad, name)
			return def
		}
		return n
	}
	active, uninit, sealedCode := code("activecode", http.StatusOK), code("uninitcode", http.StatusNotImplemented), code("sealedcode", http.StatusServiceUnavailable)
	drSecondary := code("drsecondarycode", 472)
	standbyCode := code("standbycode", http.StatusTooManyRequests)
	code("performancestandbycode", http.StatusTooManyRequests)
	standbyOK, err := boolQuery(q, "standbyok")
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, apierr.Invalid("invalid status code in %s: give an HTTP status code between 100 and 599", strings.Join(bad, ", "))
	}
	initialized, err := a.core.Seal.Initialized(r.ctx)
	if err != nil {
		return nil, err
	}
	sealed := a.core.Seal.Sealed()
	body := map[string]any{
		"initialized":                  initialized,
		"sealed":                       sealed,
		"standby":                      a.standby(),
		"performance_standby":          false,
		"replication_performance_mode": a.core.Perf.Mode(),
		"replication_dr_mode":          a.core.Repl.Mode(),
		"server_time_utc":              a.core.Now().Unix(),
		"version":                      coreVersion,
	}
	if initialized {
		id, err := a.core.Identity(r.ctx)
		if err != nil {
			return nil, err
		}
		body["cluster_name"] = id.Name
		body["cluster_id"] = id.ID
	}
	status := active
	switch {
	case !initialized:
		status = uninit
	case sealed:
		status = sealedCode
	case a.core.Repl.Mode() == replication.ModeSecondary:
		status = drSecondary
	case a.standby() && !standbyOK:
		status = standbyCode
	}

	if r.http.Method == http.MethodHead {
		return headOnly(status), nil
	}
	return &raw{Status: status, Body: body}, nil
}

type headOnly int

func (h headOnly) write(w http.ResponseWriter, _ bool) { w.WriteHeader(int(h)) }
