package httpapi

import (
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
)

// renewToken serves auth/token/renew.
func (a *API) renewToken(r *request) (response, error) {
	id := r.params.String("token")
	inc := r.params.Duration("increment")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, apierr.Invalid("missing token ID")
	}
	return a.renew(r, id, inc)
}

// renewSelf serves auth/token/renew-self: the caller's own token.
func (a *API) renewSelf(r *request) (response, error) {
	inc := r.params.Duration("increment")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	return a.renew(r, r.tokenID, inc)
}

func (a *API) renew(r *request, id string, inc time.Duration) (response, error) {
	rn, err := a.core.Auth.Renew(r.ctx, id, inc)
	if err != nil {
		return nil, err
	}
	return renewResponse(rn, id), nil
}

// renewResponse is Vault's answer to a renewal: the token's auth block with
// the lease just granted, and warnings when it was capped.
func renewResponse(rn *auth.Renewal, clientToken string) *logical {
	block := tokenAuth(rn.Token)
	block["client_token"] = clientToken
	block["lease_duration"] = int64(rn.TTL / time.Second)
	return &logical{Auth: block, Warnings: rn.Warnings}
}
