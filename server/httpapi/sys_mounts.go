package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
)

// systemMaxLeaseSeconds is Vault's system default and maximum lease (768h),
// which a mount's tune reports when its own TTLs are unset.
const systemMaxLeaseSeconds = 2764800

// mountInfo is one mount as sys/mounts and sys/internal/ui/mounts show it.
func mountInfo(e *mounts.Entry) map[string]any {
	var options any
	if e.Options != nil {
		options = e.Options
	}
	cfg := map[string]any{
		"default_lease_ttl": e.Config.DefaultLeaseTTL,
		"max_lease_ttl":     e.Config.MaxLeaseTTL,
		"force_no_cache":    e.Config.ForceNoCache,
	}
	if e.Config.ListingVisibility != "" {
		cfg["listing_visibility"] = e.Config.ListingVisibility
	}
	if e.Table == "auth" {
		cfg["token_type"] = "default-service"
	}
	return map[string]any{
		"type":                    e.Type,
		"description":             e.Description,
		"accessor":                e.Accessor,
		"uuid":                    e.UUID,
		"local":                   e.Local,
		"seal_wrap":               e.SealWrap,
		"external_entropy_access": e.ExternalEntropyAccess,
		"options":                 options,
		"plugin_version":          "",
		"running_plugin_version":  "",
		"running_sha256":          "",
		"config":                  cfg,
	}
}

// mounts answers sys/mounts: the built-in sys/ and every stored mount.
func (a *API) mounts(r *request) (response, error) {
	entries, err := a.core.Mounts.List(r.ctx)
	if err != nil {
		return nil, err
	}
	sys := mounts.SystemMount()
	data := map[string]any{sys.Path: mountInfo(&sys)}
	for i := range entries {
		data[entries[i].Path] = mountInfo(&entries[i])
	}
	return &logical{Data: data}, nil
}

// mountPathParam is the :path of sys/mounts/*path and whether it names the
// tune endpoint (sys/mounts/<path>/tune). httprouter cannot hold both
// patterns, so one catch-all serves them, as Vault's regexes do.
func mountPathParam(r *request) (string, bool) {
	p := strings.TrimPrefix(r.vars.ByName("path"), "/")
	if rest, ok := strings.CutSuffix(p, "/tune"); ok && rest != "" {
		return rest, true
	}
	return p, false
}

func (a *API) readMount(r *request) (response, error) {
	p, tune := mountPathParam(r)
	if tune {
		return a.readMountTune(r, p)
	}
	e, err := a.core.Mounts.Match(r.ctx, mounts.Sanitize(p))
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, apierr.Invalid("No secret engine mount at %s", mounts.Sanitize(p))
	}
	return &logical{Data: mountInfo(e)}, nil
}

func (a *API) writeMount(r *request) (response, error) {
	p, tune := mountPathParam(r)
	if tune {
		return a.writeMountTune(r, p)
	}
	e, err := mountInput(r.params)
	if err != nil {
		return nil, err
	}
	e.Path = p
	if _, err := a.core.Mounts.Enable(r.ctx, e); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) deleteMount(r *request) (response, error) {
	p, tune := mountPathParam(r)
	if tune {
		// Vault's tune path has no delete; never read it as "unmount <path>".
		return &raw{Status: http.StatusMethodNotAllowed, Body: map[string]any{"errors": []string{"unsupported operation: DELETE on " + r.path}}}, nil
	}
	if err := a.core.Mounts.Disable(r.ctx, p); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

// mountInput reads sys/mounts/:path's body as Vault's handleMount does.
func mountInput(p *params) (mounts.Entry, error) {
	e := mounts.Entry{
		Type:                  p.String("type"),
		Description:           p.String("description"),
		Local:                 p.Bool("local", false),
		SealWrap:              p.Bool("seal_wrap", false),
		ExternalEntropyAccess: p.Bool("external_entropy_access", false),
		Options:               p.StringMap("options"),
	}
	pluginName := p.String("plugin_name")
	p.get("plugin_version")
	cfg, err := mountConfig(p)
	if err != nil {
		return e, err
	}
	e.Config = cfg
	if err := p.Err(); err != nil {
		return e, err
	}
	if e.Type == "plugin" {
		e.Type = pluginName
	}
	return e, kvType(&e)
}

// kvType checks the engine type: kv (and its aliases) is the one this
// server runs.
func kvType(e *mounts.Entry) error {
	version := ""
	switch e.Type {
	case "":
		return apierr.Invalid("backend type must be specified as a string")
	case "kv", "generic":
	case "kv-v1":
		version = "1"
	case "kv-v2":
		version = "2"
	case "system", "token", "cubbyhole", "identity":
		return apierr.PermissionDenied("mount type of %q is not mountable", e.Type)
	default:
		return apierr.Invalid("plugin not found in the catalog: %s", e.Type)
	}
	e.Type = mounts.TypeKV
	if version != "" {
		if e.Options == nil {
			e.Options = map[string]string{}
		}
		e.Options["version"] = version
	}
	switch e.Options["version"] {
	case "", "1", "2":
		return nil
	}
	return apierr.Invalid("unsupported kv version %q: use version 1 or 2", e.Options["version"])
}

// mountConfig reads the "config" object of an enable request.
func mountConfig(p *params) (mounts.Config, error) {
	var cfg mounts.Config
	raw, ok := p.get("config")
	if !ok {
		return cfg, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		p.fail("config", "an object", raw)
		return cfg, nil
	}
	sub := newParams(obj, nil)
	def, max := leaseTTL(sub, "default_lease_ttl"), leaseTTL(sub, "max_lease_ttl")
	cfg.ForceNoCache = sub.Bool("force_no_cache", false)
	cfg.ListingVisibility = sub.String("listing_visibility")
	if err := sub.Err(); err != nil {
		return cfg, err
	}
	if def != nil {
		cfg.DefaultLeaseTTL = *def
	}
	if max != nil {
		cfg.MaxLeaseTTL = *max
	}
	return cfg, checkTTLs(cfg)
}

func checkTTLs(cfg mounts.Config) error {
	if cfg.MaxLeaseTTL != 0 && cfg.DefaultLeaseTTL > cfg.MaxLeaseTTL {
		return apierr.Invalid("given default lease TTL greater than given max lease TTL")
	}
	if cfg.MaxLeaseTTL == 0 && cfg.DefaultLeaseTTL > systemMaxLeaseSeconds {
		return apierr.Invalid("given default lease TTL greater than system max lease TTL of %d", systemMaxLeaseSeconds)
	}
	switch cfg.ListingVisibility {
	case "", "unauth", "hidden":
		return nil
	}
	return apierr.Invalid("invalid listing_visibility %s", cfg.ListingVisibility)
}

// leaseTTL reads a TTL in seconds; "system" means the system default (0).
// nil means not given.
func leaseTTL(p *params, name string) *int64 {
	v, ok := p.values[name]
	if !ok || v == nil {
		p.markUsed(name)
		return nil
	}
	if s, isString := v.(string); isString && (s == "" || s == "system") {
		p.markUsed(name)
		var zero int64
		if s == "" {
			return nil
		}
		return &zero
	}
	d := int64(p.Duration(name) / time.Second)
	return &d
}

func (a *API) readMountTune(r *request, p string) (response, error) {
	e, err := a.core.Mounts.Match(r.ctx, mounts.Sanitize(p))
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, apierr.Invalid("cannot fetch mount entry for path %q", mounts.Sanitize(p))
	}
	def, max := e.Config.DefaultLeaseTTL, e.Config.MaxLeaseTTL
	if max == 0 {
		max = systemMaxLeaseSeconds
	}
	if def == 0 {
		def = max
	}
	data := map[string]any{
		"description":       e.Description,
		"default_lease_ttl": def,
		"max_lease_ttl":     max,
		"force_no_cache":    e.Config.ForceNoCache,
	}
	if len(e.Options) > 0 {
		data["options"] = e.Options
	}
	if e.Config.ListingVisibility != "" {
		data["listing_visibility"] = e.Config.ListingVisibility
	}
	return &logical{Data: data}, nil
}

func (a *API) writeMountTune(r *request, p string) (response, error) {
	params := r.params
	def, max := leaseTTL(params, "default_lease_ttl"), leaseTTL(params, "max_lease_ttl")
	var desc *string
	if params.has("description") {
		d := params.String("description")
		desc = &d
	}
	options := params.StringMap("options")
	visibility, setVisibility := params.String("listing_visibility"), params.has("listing_visibility")
	if err := params.Err(); err != nil {
		return nil, err
	}
	upgrade, err := a.kvVersionChange(r, p, options)
	if err != nil {
		return nil, err
	}
	if upgrade != nil {
		// vault kv enable-versioning: rewrite the v1 data as v2, then tune.
		if err := a.core.Mounts.Upgrade(r.ctx, upgrade.Path, a.core.KVv2.ImportV1); err != nil {
			return nil, err
		}
	}
	err = a.core.Mounts.Tune(r.ctx, p, func(e *mounts.Entry) error {
		if def != nil {
			e.Config.DefaultLeaseTTL = *def
		}
		if max != nil {
			e.Config.MaxLeaseTTL = *max
		}
		if desc != nil {
			e.Description = *desc
		}
		if setVisibility {
			e.Config.ListingVisibility = visibility
		}
		tuneOptions(e, options)
		return checkTTLs(e.Config)
	})
	if err != nil {
		return nil, err
	}
	if upgrade != nil {
		return &logical{Warnings: []string{"Upgrading mount from version 1 to version 2. This mount will be unavailable for a brief period and will resume service shortly."}}, nil
	}
	return noContent{}, nil
}

// kvVersionChange checks options.version as Vault does (1 or 2, never a
// downgrade) and returns the mount to upgrade when it asks for one.
func (a *API) kvVersionChange(r *request, p string, options map[string]string) (*mounts.Entry, error) {
	v, ok := options["version"]
	if !ok {
		return nil, nil
	}
	want, err := strconv.Atoi(v)
	if err != nil {
		return nil, apierr.Invalid("unable to parse options: %q is not a number", v)
	}
	if want != 1 && want != 2 {
		return nil, apierr.Invalid("invalid version provided: %d", want)
	}
	e, err := a.core.Mounts.Match(r.ctx, mounts.Sanitize(p))
	if err != nil || e == nil || e.Type != mounts.TypeKV {
		return nil, err // Tune reports a missing mount
	}
	switch have := e.KVVersion(); {
	case have > want:
		return nil, apierr.Invalid("cannot downgrade mount from version %d", have)
	case have < want:
		return e, nil
	}
	return nil, nil
}

// tuneOptions merges options into the mount's; an empty value removes an
// option, except version (checked by kvVersionChange).
func tuneOptions(e *mounts.Entry, options map[string]string) {
	if len(options) == 0 {
		return
	}
	if e.Options == nil {
		e.Options = map[string]string{}
	}
	for k, v := range options {
		if v == "" && k != "version" {
			delete(e.Options, k)
			continue
		}
		if k == "version" && v == "" {
			continue
		}
		e.Options[k] = v
	}
}

// remount moves a mount synchronously and answers with Vault's migration id.
func (a *API) remount(r *request) (response, error) {
	from, to := r.params.String("from"), r.params.String("to")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	if from == "" || to == "" {
		return nil, apierr.Invalid("both 'from' and 'to' path must be specified as a string")
	}
	if strings.TrimSpace(from) != from {
		return nil, apierr.Invalid("'from' path cannot contain trailing whitespace")
	}
	if strings.TrimSpace(to) != to {
		return nil, apierr.Invalid("'to' path cannot contain trailing whitespace")
	}
	id, err := a.core.Mounts.Move(r.ctx, from, to)
	if err != nil {
		return nil, err
	}
	return &logical{
		Data:     map[string]any{"migration_id": id},
		Warnings: []string{"Mount move has been queued. Progress will be reported in Vault's server log, tagged with the returned migration_id"},
	}, nil
}

func (a *API) remountStatus(r *request) (response, error) {
	id := r.vars.ByName("id")
	info, ok := a.core.Mounts.MoveStatus(id)
	if !ok {
		return nil, apierr.NotFound("")
	}
	return &logical{Data: map[string]any{"migration_id": id, "migration_info": map[string]any{
		"source_mount": info.Source,
		"target_mount": info.Target,
		"status":       info.Status,
	}}}, nil
}

// internalMount answers sys/internal/ui/mounts/*path with the mount that
// encloses the path, built-in ones included; 403 where none does (clients
// such as terraform-provider-vault read 403 and 404 as "not a KV mount").
func (a *API) internalMount(r *request) (response, error) {
	p := strings.TrimPrefix(r.vars.ByName("path"), "/")
	if p == "" {
		return nil, apierr.Invalid("path not set")
	}
	p = mounts.Sanitize(p)
	e, err := a.core.Mounts.Enclosing(r.ctx, p)
	if err != nil {
		return nil, err
	}
	denied := apierr.PermissionDenied("preflight capability check returned 403, please ensure client's policies grant access to path %q", p)
	if e == nil {
		return nil, denied
	}
	// Like Vault, only tell a token about a mount it can reach.
	if ok, err := a.core.Auth.HasMountAccess(r.ctx, r.token, e.Path); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, denied
	}
	data := mountInfo(e)
	data["path"] = e.Path
	if e.Table == "auth" {
		data["path"] = strings.TrimPrefix(e.Path, "auth/") // Vault names auth mounts without the prefix here
	}
	return &logical{Data: data}, nil
}
