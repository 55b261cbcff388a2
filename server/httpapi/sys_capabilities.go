package httpapi

import (
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
)

// The three sys/capabilities endpoints answer what a token may do on some
// paths, as Vault's handleCapabilities does: one entry per path, plus
// "capabilities" when exactly one path was asked (older clients read that).

// capabilitiesSelf serves sys/capabilities-self: the caller's own token.
func (a *API) capabilitiesSelf(r *request) (response, error) {
	r.params.String("token") // accepted and ignored, as by Vault
	return a.capabilitiesOf(r, r.token)
}

// capabilities serves sys/capabilities: the token in the body.
func (a *API) capabilities(r *request) (response, error) {
	id := r.params.String("token")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	if id == "" {
		// Vault answers 500 "no token found" here; a missing parameter is
		// the client's mistake, so this server says 400.
		return nil, apierr.Invalid("no token found: send the token to check as \"token\"")
	}
	tok, err := a.core.Auth.Lookup(r.ctx, id)
	if err != nil {
		if apierr.KindOf(err) == apierr.KindPermissionDenied {
			return nil, apierr.Invalid("invalid token")
		}
		return nil, err
	}
	return a.capabilitiesOf(r, tok)
}

// capabilitiesAccessor serves sys/capabilities-accessor: the token with
// the accessor in the body.
func (a *API) capabilitiesAccessor(r *request) (response, error) {
	tok, err := a.tokenByAccessor(r)
	if err != nil {
		return nil, err
	}
	return a.capabilitiesOf(r, tok)
}

func (a *API) capabilitiesOf(r *request, tok *auth.Token) (response, error) {
	p := r.params
	paths := p.Strings("paths")
	p.has("path") // known even when "paths" wins, so it draws no warning
	if len(paths) == 0 {
		paths = p.Strings("path") // the deprecated name
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, apierr.Invalid("paths must be supplied")
	}
	data := make(map[string]any, len(paths)+1)
	for _, path := range paths {
		caps, err := a.core.Auth.Capabilities(r.ctx, tok, strings.TrimPrefix(path, "/"))
		if err != nil {
			return nil, err
		}
		data[path] = caps
	}
	if len(paths) == 1 {
		data["capabilities"] = data[paths[0]]
	}
	return &logical{Data: data}, nil
}
