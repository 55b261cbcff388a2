package httpapi

import (
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// kvLeaseSeconds is the lease Vault reports on KV v1 reads (768h).
const kvLeaseSeconds = 2764800

func secretPath(r *request) string {
	return strings.TrimPrefix(r.vars.ByName("path"), "/")
}

func (a *API) readSecret(r *request) (response, error) {
	data, err := a.core.KV.Read(r.ctx, secretPath(r))
	if err != nil {
		return nil, err
	}
	return &logical{Data: data, LeaseDuration: kvLeaseSeconds}, nil
}

func (a *API) secretExists(r *request) (bool, error) {
	return a.core.KV.Exists(r.ctx, secretPath(r))
}

func (a *API) writeSecret(r *request) (response, error) {
	// Every body key is secret data, so none is "unrecognized".
	for k := range r.body {
		r.params.used[k] = true
	}
	if _, err := a.core.KV.Write(r.ctx, secretPath(r), r.body); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) deleteSecret(r *request) (response, error) {
	if err := a.core.KV.Delete(r.ctx, secretPath(r)); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) listSecrets(r *request) (response, error) {
	keys, err := a.core.KV.List(r.ctx, secretPath(r))
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, apierr.NotFound("")
	}
	return &logical{Data: map[string]any{"keys": keys}}, nil
}
