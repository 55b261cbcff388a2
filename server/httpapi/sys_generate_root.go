package httpapi

import (
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/optoken"
)

// sys/generate-root makes a new root token from a quorum of the unseal key
// shares, as Vault's http/sys_generate_root.go does: unauthenticated (the
// shares are the credential), only while unsealed, and never on a DR
// secondary (whose shares are the primary's; it has generate-operation-token
// instead). The answers are the bare status objects Vault sends.

func (a *API) generateRootStatus(r *request) (response, error) {
	st, err := a.core.RootGen().Status(r.ctx)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) generateRootStart(r *request) (response, error) {
	p := r.params
	otp, pgp := p.String("otp"), p.String("pgp_key")
	if err := p.Err(); err != nil {
		return nil, err
	}
	st, err := a.core.RootGen().Start(r.ctx, otp, pgp)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) generateRootCancel(r *request) (response, error) {
	if err := a.core.RootGen().Cancel(r.ctx); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) generateRootUpdate(r *request) (response, error) {
	p := r.params
	key, nonce := strings.TrimSpace(p.String("key")), p.String("nonce")
	if err := p.Err(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, apierr.Invalid("'key' must be specified in request body as JSON")
	}
	st, err := a.core.RootGen().Update(r.ctx, key, nonce)
	if err != nil {
		return nil, err
	}
	return &raw{Body: rootStatus(st)}, nil
}

// rootStatus is st as sys/generate-root reports it: Vault's standard
// strategy repeats the encoded token as encoded_root_token, which older
// clients read.
func rootStatus(st optoken.Status) optoken.Status {
	st.EncodedRootToken = st.EncodedToken
	return st
}
