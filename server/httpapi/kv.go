package httpapi

import (
	"net/http"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/kv"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
)

// kvLeaseSeconds is the lease Vault reports on KV v1 reads (768h).
const kvLeaseSeconds = 2764800

// kvRoute is the KV v1 route for method on the mount e, or nil.
func (a *API) kvRoute(method string, e *mounts.Entry) *route {
	rt := &route{method: method, path: e.Path + "*path"}
	switch method {
	case http.MethodGet:
		rt.handle = a.onMount(e, a.readSecret)
	case http.MethodPut:
		rt.exists = a.existsOnMount(e, a.secretExists)
		rt.handle = a.onMount(e, a.writeSecret)
	case http.MethodDelete:
		rt.handle = a.onMount(e, a.deleteSecret)
	case methodList:
		rt.handle = a.onMount(e, a.listSecrets)
	default:
		return nil
	}
	return rt
}

func kvMount(a *API, e *mounts.Entry) *kv.Mount { return kv.New(a.core.Data, e.Path, e.Prefix) }

func (a *API) readSecret(r *request, e *mounts.Entry, rest string) (response, error) {
	data, err := kvMount(a, e).Read(r.ctx, rest)
	if err != nil {
		return nil, err
	}
	return &logical{Data: data, LeaseDuration: kvLeaseSeconds}, nil
}

func (a *API) secretExists(r *request, e *mounts.Entry, rest string) (bool, error) {
	return kvMount(a, e).Exists(r.ctx, rest)
}

func (a *API) writeSecret(r *request, e *mounts.Entry, rest string) (response, error) {
	// Every body key is secret data, so none is "unrecognized".
	r.params.useBody(r.body)
	if _, err := kvMount(a, e).Write(r.ctx, rest, r.body); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) deleteSecret(r *request, e *mounts.Entry, rest string) (response, error) {
	if err := kvMount(a, e).Delete(r.ctx, rest); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) listSecrets(r *request, e *mounts.Entry, rest string) (response, error) {
	keys, err := kvMount(a, e).List(r.ctx, rest)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, apierr.NotFound("")
	}
	return &logical{Data: map[string]any{"keys": keys}}, nil
}
