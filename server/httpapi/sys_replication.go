package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
)

// fromResult turns a replication result into Vault's envelope.
func fromResult(res *replication.Result, err error) (response, error) {
	if err != nil {
		return nil, err
	}
	return &logical{Data: res.Data, WrapInfo: res.WrapInfo, Warnings: res.Warnings}, nil
}

func (a *API) replicationStatus(_ *request) (response, error) {
	return &logical{Data: map[string]any{
		"dr":          a.core.Repl.Status(),
		"performance": a.core.Perf.Status(),
	}}, nil
}

// kindOf is the Manager a sys/replication/<kind>/ path addresses: the
// handlers are shared and the path says which family they act on.
func (a *API) kindOf(r *request) *replication.Manager {
	if strings.HasPrefix(r.path, "sys/replication/performance/") {
		return a.core.Perf
	}
	return a.core.Repl
}

func (a *API) performanceStatus(_ *request) (response, error) {
	return &logical{Data: a.core.Perf.Status()}, nil
}

func (a *API) drStatus(_ *request) (response, error) {
	return &logical{Data: a.core.Repl.Status()}, nil
}

func (a *API) enablePrimary(r *request) (response, error) {
	addr := r.params.String("primary_cluster_addr")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.kindOf(r).EnablePrimary(r.ctx, addr))
}

func (a *API) demotePrimary(r *request) (response, error) {
	return fromResult(a.kindOf(r).DemotePrimary(r.ctx))
}

func (a *API) disablePrimary(r *request) (response, error) {
	return fromResult(a.kindOf(r).DisablePrimary(r.ctx))
}

// maxActivationTokenTTL bounds a secondary activation token's ttl. An
// activation token is a wrapping token, and Vault caps every token's TTL at
// the system max_lease_ttl, 768h (32 days) by default.
const maxActivationTokenTTL = 768 * time.Hour

func (a *API) secondaryToken(r *request) (response, error) {
	p := r.params
	id := p.String("id")
	ttl := p.Duration("ttl")
	pub := p.String("secondary_public_key")
	if ttl > maxActivationTokenTTL {
		p.errs = append(p.errs, fmt.Sprintf("parameter \"ttl\": %s is longer than the %s limit for an activation token; use a shorter ttl and issue a new token when needed", ttl, maxActivationTokenTTL))
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.kindOf(r).SecondaryToken(r.ctx, id, ttl, pub))
}

func (a *API) revokeSecondary(r *request) (response, error) {
	id := r.params.String("id")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.kindOf(r).RevokeSecondary(r.ctx, id))
}

func (a *API) generatePublicKey(r *request) (response, error) {
	return fromResult(a.kindOf(r).GeneratePublicKey(r.ctx))
}

func activationRequest(p *params) replication.ActivationRequest {
	return replication.ActivationRequest{
		Token:          p.String("token"),
		PrimaryAPIAddr: p.String("primary_api_addr"),
		CAFile:         p.String("ca_file"),
		CAPath:         p.String("ca_path"),
	}
}

func (a *API) enableSecondary(r *request) (response, error) {
	req := activationRequest(r.params)
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.kindOf(r).EnableSecondary(r.ctx, req))
}

func (a *API) promote(r *request) (response, error) {
	p := r.params
	addr := p.String("primary_cluster_addr")
	force := p.Bool("force", false)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.kindOf(r).Promote(r.ctx, addr, force))
}

func (a *API) disableSecondary(r *request) (response, error) {
	return fromResult(a.kindOf(r).DisableSecondary(r.ctx))
}

func (a *API) updatePrimary(r *request) (response, error) {
	req := activationRequest(r.params)
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.kindOf(r).UpdatePrimary(r.ctx, req))
}

func (a *API) recoverReplication(r *request) (response, error) {
	return fromResult(a.core.Repl.Recover(r.ctx))
}

func (a *API) reindex(r *request) (response, error) {
	p := r.params
	p.Bool("diff", false)
	p.Bool("force", false)
	p.Bool("skip_flush", false)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return fromResult(a.core.Repl.Reindex(r.ctx))
}

func (a *API) opTokenStatus(r *request) (response, error) {
	st, err := a.core.Repl.OpToken.Status(r.ctx)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) opTokenStart(r *request) (response, error) {
	p := r.params
	otp, pgp := p.String("otp"), p.String("pgp_key")
	if err := p.Err(); err != nil {
		return nil, err
	}
	st, err := a.core.Repl.OpToken.Start(r.ctx, otp, pgp)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) opTokenCancel(r *request) (response, error) {
	if err := a.core.Repl.OpToken.Cancel(r.ctx); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) opTokenUpdate(r *request) (response, error) {
	p := r.params
	p.Require("key", "nonce")
	key, nonce := strings.TrimSpace(p.String("key")), p.String("nonce")
	if err := p.Err(); err != nil {
		return nil, err
	}
	st, err := a.core.Repl.OpToken.Update(r.ctx, key, nonce)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) opTokenDelete(r *request) (response, error) {
	if err := a.core.Repl.OpToken.Revoke(r.ctx, r.params.String("dr_operation_token")); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

// checkDROperationToken accepts a DR operation token generated on this
// secondary, or a (batch) token from the primary whose policy allows the
// path. Only the body's dr_operation_token counts.
func (a *API) checkDROperationToken(req *request) error {
	tok := req.params.String("dr_operation_token")
	if tok == "" {
		return apierr.PermissionDenied("permission denied: missing dr_operation_token: generate one with sys/replication/dr/secondary/generate-operation-token on this secondary, or pass a DR operation batch token from the primary")
	}
	if err := a.core.Repl.OpToken.Check(req.ctx, tok); err == nil {
		return nil
	}
	t, err := a.core.Auth.Lookup(req.ctx, tok)
	if err == nil && a.core.Auth.Authorize(req.ctx, t, req.path, auth.OpUpdate, false) == nil {
		return nil
	}
	return apierr.PermissionDenied("permission denied: invalid dr_operation_token: it is unknown, revoked, or lacks update on %s; generate a new one with generate-operation-token", req.path)
}

// unwrap serves sys/wrapping/unwrap: the wrapping token comes as
// X-Vault-Token or as the body's token.
func (a *API) unwrap(r *request) (response, error) {
	tok := r.params.String("token")
	if tok == "" {
		tok = r.http.Header.Get("X-Vault-Token")
	}
	if tok == "" {
		return nil, apierr.Invalid("missing wrapping token: send it as X-Vault-Token or as the body's \"token\"")
	}
	return fromResult(replication.UnwrapAny(r.ctx, tok, a.core.Repl, a.core.Perf))
}

func (a *API) wrapLookup(r *request) (response, error) {
	tok := r.params.String("token")
	if tok == "" {
		return nil, apierr.Invalid("missing required parameter \"token\": the wrapping token to look up")
	}
	return fromResult(replication.WrapLookupAny(r.ctx, tok, a.core.Repl, a.core.Perf))
}

func (a *API) metrics(r *request) (response, error) {
	format := r.http.URL.Query().Get("format")
	if format != "" && format != "prometheus" {
		return nil, apierr.Invalid("unsupported metrics format %q: use format=prometheus", format)
	}
	return prometheusText{a: a}, nil
}

type prometheusText struct{ a *API }

func (p prometheusText) write(w http.ResponseWriter, _ bool) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p.a.core.Repl.WritePrometheus(w)
	p.a.stats.writePrometheus(w)
}
