package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/kvv2"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
)

// kvv2Handler serves one KV v2 operation; key is the secret path after the
// operation's prefix (data/, metadata/...).
type kvv2Handler func(r *request, prefix, key string) (response, error)

// kvv2Route is the KV v2 route for method on rest (the path after the
// mount), or nil when the engine has no such operation.
func (a *API) kvv2Route(method string, e *mounts.Entry, rest string) *route {
	op := kvv2Op(rest)
	h := a.kvv2Handlers(method, op)
	if h == nil && op != "config" && op != "data" && op != "metadata" && op != "delete" && op != "undelete" && op != "destroy" {
		h = unsupportedKVv2Path // Vault's 404 for a path the engine does not have
	}
	if h == nil {
		return nil
	}
	rt := &route{method: method, path: e.Path + op + "/*path"}
	rt.handle = a.onMount(e, func(r *request, e *mounts.Entry, rest string) (response, error) {
		_, key, _ := strings.Cut(rest, "/")
		return h(r, e.Prefix, key)
	})
	if method == http.MethodPut && (op == "data" || op == "metadata") {
		rt.exists = a.existsOnMount(e, func(r *request, e *mounts.Entry, rest string) (bool, error) {
			_, key, _ := strings.Cut(rest, "/")
			meta, err := a.core.KVv2.ReadMetadata(r.ctx, e.Prefix, key)
			return meta != nil, err
		})
	}
	return rt
}

func (a *API) kvv2Handlers(method, op string) kvv2Handler {
	type k struct{ method, op string }
	return map[k]kvv2Handler{
		{http.MethodGet, "config"}:      a.kvv2ReadConfig,
		{http.MethodPut, "config"}:      a.kvv2WriteConfig,
		{http.MethodGet, "data"}:        a.kvv2Read,
		{http.MethodPut, "data"}:        a.kvv2Write,
		{http.MethodDelete, "data"}:     a.kvv2DeleteLatest,
		{http.MethodPatch, "data"}:      a.kvv2Patch,
		{http.MethodGet, "metadata"}:    a.kvv2ReadMetadata,
		{http.MethodPut, "metadata"}:    a.kvv2WriteMetadata,
		{http.MethodDelete, "metadata"}: a.kvv2DeleteMetadata,
		{methodList, "metadata"}:        a.kvv2List,
		{http.MethodPut, "delete"}:      a.kvv2Versions(a.core.KVv2.Delete, "No version number provided"),
		{http.MethodPut, "undelete"}:    a.kvv2Versions(a.core.KVv2.Undelete, "No version number provided"),
		{http.MethodPut, "destroy"}:     a.kvv2Versions(a.core.KVv2.Destroy, "no version number provided"),
	}[k{method, op}]
}

func unsupportedKVv2Path(r *request, _, _ string) (response, error) {
	return nil, apierr.NotFound("no handler for route %q. route entry not found.", r.path)
}

// timeString is Vault's timestamp form: RFC 3339 in UTC, "" for none.
func timeString(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func versionData(v *kvv2.Version) map[string]any {
	var custom any
	if v.CustomMetadata != nil {
		custom = v.CustomMetadata
	}
	return map[string]any{
		"version":         v.Number,
		"created_time":    timeString(&v.Meta.CreatedTime),
		"deletion_time":   timeString(v.Meta.DeletionTime),
		"destroyed":       v.Meta.Destroyed,
		"custom_metadata": custom,
	}
}

func (a *API) kvv2Read(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	n := r.params.Int("version", 0)
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	if n < 0 {
		n = 0
	}
	v, err := a.core.KVv2.Read(r.ctx, prefix, key, uint64(n))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, apierr.NotFound("")
	}
	resp := &logical{Data: map[string]any{"data": nil, "metadata": versionData(v)}}
	if v.Data == nil {
		resp.Status = http.StatusNotFound // deleted or destroyed: Vault still shows the metadata
		return resp, nil
	}
	resp.Data["data"] = v.Data
	return resp, nil
}

func (a *API) kvv2Write(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	raw, ok := r.params.get("data")
	if !ok {
		return nil, apierr.Invalid("no data provided")
	}
	data, ok := raw.(map[string]any)
	if !ok {
		return nil, apierr.Invalid("parameter \"data\": expected an object, got %s", jsonKind(raw))
	}
	cas, err := casOption(r.params)
	if err != nil {
		return nil, err
	}
	v, err := a.core.KVv2.Write(r.ctx, prefix, key, data, cas)
	if err != nil {
		return nil, err
	}
	return &logical{Data: versionData(v)}, nil
}

// casOption reads options.cas; nil when not given.
func casOption(p *params) (*int, error) {
	raw, ok := p.get("options")
	if !ok {
		return nil, nil
	}
	opts, ok := raw.(map[string]any)
	if !ok {
		return nil, apierr.Invalid("parameter \"options\": expected an object, got %s", jsonKind(raw))
	}
	c, ok := opts["cas"]
	if !ok || c == nil {
		return nil, nil
	}
	var s string
	switch t := c.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = t
	case bool:
		s = map[bool]string{true: "1", false: "0"}[t]
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return nil, apierr.Invalid("error parsing check-and-set parameter")
	}
	cas := int(n)
	return &cas, nil
}

// kvv2Patch merges the body's data into the current version (vault kv patch).
func (a *API) kvv2Patch(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	raw, ok := r.params.get("data")
	if !ok {
		return nil, apierr.Invalid("no data provided")
	}
	patch, ok := raw.(map[string]any)
	if !ok {
		return nil, apierr.Invalid("parameter \"data\": expected an object, got %s", jsonKind(raw))
	}
	cas, err := casOption(r.params)
	if err != nil {
		return nil, err
	}
	v, err := a.core.KVv2.Patch(r.ctx, prefix, key, patch, cas)
	if errors.Is(err, kvv2.ErrNoCurrentVersion) {
		if v == nil {
			return nil, apierr.NotFound("")
		}
		return &logical{Status: http.StatusNotFound, Data: versionData(v)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &logical{Data: versionData(v)}, nil
}

func (a *API) kvv2DeleteLatest(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	if err := a.core.KVv2.DeleteLatest(r.ctx, prefix, key); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

// kvv2Versions serves delete/, undelete/ and destroy/, which take "versions".
func (a *API) kvv2Versions(op func(ctx context.Context, prefix, key string, versions []uint64) error, missing string) kvv2Handler {
	return func(r *request, prefix, key string) (response, error) {
		if err := kvv2.CheckPath(key); err != nil {
			return nil, err
		}
		versions, err := intList(r.params, "versions")
		if err != nil {
			return nil, err
		}
		if len(versions) == 0 {
			return nil, apierr.Invalid("%s", missing)
		}
		if err := op(r.ctx, prefix, key, versions); err != nil {
			return nil, err
		}
		return noContent{}, nil
	}
}

// intList reads a list of version numbers: a JSON array of numbers or
// strings, or a comma-separated string (Vault's TypeCommaIntSlice).
func intList(p *params, name string) ([]uint64, error) {
	raw, ok := p.get(name)
	if !ok {
		return nil, nil
	}
	var items []any
	switch t := raw.(type) {
	case []any:
		items = t
	case string:
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		items = []any{t}
	}
	out := make([]uint64, 0, len(items))
	for _, it := range items {
		var s string
		switch t := it.(type) {
		case json.Number:
			s = t.String()
		case string:
			s = t
		}
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return nil, apierr.Invalid("parameter %q: expected a list of version numbers, got %s", name, describe(it))
		}
		out = append(out, n)
	}
	return out, nil
}

func (a *API) kvv2ReadMetadata(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	m, err := a.core.KVv2.ReadMetadata(r.ctx, prefix, key)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, apierr.NotFound("")
	}
	versions := make(map[string]any, len(m.Versions))
	for n, vm := range m.Versions {
		versions[strconv.FormatUint(n, 10)] = map[string]any{
			"created_time":  timeString(&vm.CreatedTime),
			"deletion_time": timeString(vm.DeletionTime),
			"destroyed":     vm.Destroyed,
		}
	}
	var custom any
	if m.CustomMetadata != nil {
		custom = m.CustomMetadata
	}
	return &logical{Data: map[string]any{
		"versions":             versions,
		"current_version":      m.CurrentVersion,
		"oldest_version":       m.OldestVersion,
		"created_time":         timeString(&m.CreatedTime),
		"updated_time":         timeString(&m.UpdatedTime),
		"max_versions":         m.MaxVersions,
		"cas_required":         m.CasRequired,
		"delete_version_after": m.DeleteVersionAfter.String(),
		"custom_metadata":      custom,
	}}, nil
}

func (a *API) kvv2WriteMetadata(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	p := r.params
	var u kvv2.MetadataUpdate
	if p.has("max_versions") {
		n := p.Int("max_versions", 0)
		u.MaxVersions = &n
	}
	u.CasRequired = p.OptionalBool("cas_required")
	if p.has("delete_version_after") {
		d := p.Duration("delete_version_after")
		u.DeleteVersionAfter = &d
	}
	if p.has("custom_metadata") {
		u.CustomMetadata = customMetadata(p)
		if u.CustomMetadata == nil {
			u.CustomMetadata = map[string]string{}
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if u.MaxVersions != nil && *u.MaxVersions < 0 {
		return nil, apierr.Invalid("max_versions must not be negative")
	}
	if u.MaxVersions == nil && u.CasRequired == nil && u.DeleteVersionAfter == nil && u.CustomMetadata == nil {
		return noContent{}, nil
	}
	if err := a.core.KVv2.WriteMetadata(r.ctx, prefix, key, u); err != nil {
		return nil, err
	}
	resp := &logical{Status: http.StatusNoContent}
	if u.CasRequired != nil && !*u.CasRequired {
		cfg, err := a.core.KVv2.ReadConfig(r.ctx, prefix)
		if err != nil {
			return nil, err
		}
		if cfg.CasRequired {
			resp.Status = http.StatusOK
			resp.Warnings = []string{`"cas_required" set to false, but is mandated by backend config. This value will be ignored.`}
			return resp, nil
		}
	}
	return noContent{}, nil
}

// customMetadata reads custom_metadata, whose values Vault decodes weakly
// (numbers and booleans become strings).
func customMetadata(p *params) map[string]string {
	raw, _ := p.get("custom_metadata")
	obj, ok := raw.(map[string]any)
	if !ok {
		p.fail("custom_metadata", "an object", raw)
		return nil
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		switch t := v.(type) {
		case string:
			out[k] = t
		case json.Number:
			out[k] = t.String()
		case bool:
			out[k] = strconv.FormatBool(t)
		default:
			p.fail("custom_metadata", "an object of strings", raw)
			return nil
		}
	}
	return out
}

func (a *API) kvv2DeleteMetadata(r *request, prefix, key string) (response, error) {
	if err := kvv2.CheckPath(key); err != nil {
		return nil, err
	}
	if err := a.core.KVv2.DeleteMetadata(r.ctx, prefix, key); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) kvv2List(r *request, prefix, key string) (response, error) {
	keys, err := a.core.KVv2.List(r.ctx, prefix, key)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, apierr.NotFound("")
	}
	return &logical{Data: map[string]any{"keys": keys}}, nil
}

func (a *API) kvv2ReadConfig(r *request, prefix, _ string) (response, error) {
	cfg, err := a.core.KVv2.ReadConfig(r.ctx, prefix)
	if err != nil {
		return nil, err
	}
	maxVersions := cfg.MaxVersions
	return &logical{Data: map[string]any{
		"max_versions":         maxVersions,
		"cas_required":         cfg.CasRequired,
		"delete_version_after": cfg.DeleteVersionAfter.String(),
	}}, nil
}

func (a *API) kvv2WriteConfig(r *request, prefix, _ string) (response, error) {
	p := r.params
	var u kvv2.ConfigUpdate
	if p.has("max_versions") {
		n := p.Int("max_versions", 0)
		u.MaxVersions = &n
	}
	u.CasRequired = p.OptionalBool("cas_required")
	if p.has("delete_version_after") {
		d := signedDuration(p, "delete_version_after")
		u.DeleteVersionAfter = &d
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if u.MaxVersions != nil && *u.MaxVersions < 0 {
		return nil, apierr.Invalid("max_versions must not be negative")
	}
	if u == (kvv2.ConfigUpdate{}) {
		return noContent{}, nil
	}
	if err := a.core.KVv2.WriteConfig(r.ctx, prefix, u); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

// signedDuration is Duration that also takes a negative value (config's
// delete_version_after, where negative disables it).
func signedDuration(p *params, name string) time.Duration {
	raw, _ := p.get(name)
	switch t := raw.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(t.String(), 10, 64); err == nil && n < 0 {
			return -time.Second
		}
	case string:
		if strings.HasPrefix(strings.TrimSpace(t), "-") {
			return -time.Second
		}
	}
	return p.Duration(name)
}
