package httpapi

import (
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
)

// accessorParam reads the accessor parameter, answering a missing one in
// Vault's words.
func accessorParam(p *params) (string, error) {
	acc := p.String("accessor")
	if err := p.Err(); err != nil {
		return "", err
	}
	if acc == "" {
		return "", apierr.Invalid("missing accessor")
	}
	return acc, nil
}

// tokenByAccessor is the token whose accessor the request's accessor
// parameter names.
func (a *API) tokenByAccessor(r *request) (*auth.Token, error) {
	acc, err := accessorParam(r.params)
	if err != nil {
		return nil, err
	}
	return a.core.Auth.LookupAccessor(r.ctx, acc)
}

// lookupAccessor serves auth/token/lookup-accessor: the token's properties
// with its id blanked, as Vault does.
func (a *API) lookupAccessor(r *request) (response, error) {
	tok, err := a.tokenByAccessor(r)
	if err != nil {
		return nil, err
	}
	return &logical{Data: tokenData(tok, "", a.core.Now())}, nil
}

// renewAccessor serves auth/token/renew-accessor; the answer carries no
// client_token since the caller only knows the accessor.
func (a *API) renewAccessor(r *request) (response, error) {
	acc, err := accessorParam(r.params)
	if err != nil {
		return nil, err
	}
	inc := r.params.Duration("increment")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	rn, err := a.core.Auth.RenewAccessor(r.ctx, acc, inc)
	if err != nil {
		return nil, err
	}
	return renewResponse(rn, ""), nil
}
