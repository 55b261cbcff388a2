package httpapi

import (
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// The vault CLI's kv commands first ask which mount a path is on and its KV
// version; these two routes answer for the one KV v1 mount.

func (a *API) kvMountInfo() map[string]any {
	return map[string]any{
		"type":        "kv",
		"description": "key/value secret storage",
		"options":     map[string]any{"version": "1"},
		"path":        a.core.KV.Name(),
		"local":       false,
		"seal_wrap":   false,
		"config":      map[string]any{"default_lease_ttl": 0, "max_lease_ttl": 0},
	}
}

func (a *API) mounts(_ *request) (response, error) {
	return &logical{Data: map[string]any{a.core.KV.Name(): a.kvMountInfo()}}, nil
}

func (a *API) mountInfo(r *request) (response, error) {
	path := strings.TrimPrefix(r.vars.ByName("path"), "/")
	mount := a.core.KV.Name()
	if path+"/" != mount && !strings.HasPrefix(path, mount) {
		return nil, apierr.Invalid("no mount at %q: this server has one KV mount, %s", path, mount)
	}
	return &logical{Data: a.kvMountInfo()}, nil
}
