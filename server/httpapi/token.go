package httpapi

import (
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
)

// createToken serves auth/token/create, create-orphan and create/:role.
func (a *API) createToken(r *request) (response, error) {
	p := r.params
	req := auth.CreateRequest{
		Policies:        p.Strings("policies"),
		TTL:             p.Duration("ttl"),
		ExplicitMaxTTL:  p.Duration("explicit_max_ttl"),
		Type:            p.String("type"),
		NoParent:        p.Bool("no_parent", false),
		NoDefaultPolicy: p.Bool("no_default_policy", false),
		Renewable:       p.OptionalBool("renewable"),
		DisplayName:     p.String("display_name"),
		Role:            r.vars.ByName("role"),
		Orphan:          strings.HasSuffix(r.path, "/create-orphan"),
		ID:              p.String("id"),
		Meta:            p.StringMap("meta"),
	}
	// Sent by the Go client with zero values; they mean "default".
	if n := p.Int("num_uses", 0); n != 0 {
		p.errs = append(p.errs, "parameter \"num_uses\": limited-use tokens are not supported by this server; omit it or send 0")
	}
	p.String("entity_alias")
	p.String("period")
	p.String("lease")
	if err := p.Err(); err != nil {
		return nil, err
	}
	// Vault honours no_parent only for root or sudo callers.
	sudo := a.core.Auth.Authorize(r.ctx, r.token, r.path, auth.OpUpdate, true) == nil
	tok, err := a.core.Auth.Create(r.ctx, r.token, sudo, req)
	if err != nil {
		return nil, err
	}
	return &logical{Auth: tokenAuth(tok)}, nil
}

// tokenAuth is the "auth" block of a token-create response; the lease is
// the whole TTL just granted.
func tokenAuth(tok *auth.Token) map[string]any {
	return map[string]any{
		"client_token":      tok.ID,
		"accessor":          tok.Accessor,
		"policies":          tok.Policies,
		"token_policies":    tok.Policies,
		"identity_policies": nil,
		"metadata":          stringMapOrNil(tok.Meta),
		"lease_duration":    int64(tok.TTL / time.Second),
		"renewable":         tok.Renewable,
		"entity_id":         "",
		"token_type":        tok.Type,
		"orphan":            tok.Orphan,
		"mfa_requirement":   nil,
		"num_uses":          0,
	}
}

func stringMapOrNil(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func remainingSeconds(tok *auth.Token, now time.Time) int64 {
	if tok.ExpireTime.IsZero() {
		return 0
	}
	left := tok.ExpireTime.Sub(now)
	if left < 0 {
		return 0
	}
	return int64(left.Round(time.Second) / time.Second)
}

// tokenData is the body of a token lookup. The id is shown only to the
// token's own holder (lookup-self), as Vault does.
func tokenData(tok *auth.Token, id string, now time.Time) map[string]any {
	var expire any
	if !tok.ExpireTime.IsZero() {
		expire = tok.ExpireTime.UTC().Format(time.RFC3339Nano)
	}
	data := map[string]any{
		"id":               id,
		"accessor":         tok.Accessor,
		"policies":         tok.Policies,
		"path":             tok.Path,
		"meta":             stringMapOrNil(tok.Meta),
		"display_name":     tok.DisplayName,
		"num_uses":         0,
		"orphan":           tok.Orphan,
		"renewable":        tok.Renewable,
		"type":             tok.Type,
		"creation_time":    tok.CreationTime.Unix(),
		"creation_ttl":     int64(tok.TTL / time.Second),
		"ttl":              remainingSeconds(tok, now),
		"expire_time":      expire,
		"issue_time":       tok.CreationTime.UTC().Format(time.RFC3339Nano),
		"explicit_max_ttl": int64(tok.ExplicitMaxTTL / time.Second),
		"entity_id":        "",
		"role":             tok.Role,
	}
	if !tok.LastRenewal.IsZero() {
		data["last_renewal_time"] = tok.LastRenewal.Unix()
		data["last_renewal"] = tok.LastRenewal.UTC().Format(time.RFC3339Nano)
	}
	return data
}

func (a *API) lookupSelf(r *request) (response, error) {
	return &logical{Data: tokenData(r.token, r.tokenID, a.core.Now())}, nil
}

func (a *API) lookupToken(r *request) (response, error) {
	id := r.params.String("token")
	if err := r.params.Err(); err != nil {
		return nil, err
	}
	if id == "" {
		id = r.tokenID // Vault looks up the caller's own token
	}
	tok, err := a.core.Auth.Lookup(r.ctx, id)
	if err != nil {
		if apierr.KindOf(err) == apierr.KindPermissionDenied {
			return nil, errBadToken
		}
		return nil, err
	}
	return &logical{Data: tokenData(tok, id, a.core.Now())}, nil
}

// errBadToken is Vault's 403 for a lookup of a token that does not exist,
// has expired or was revoked.
var errBadToken = apierr.PermissionDenied("bad token")

func (a *API) revokeToken(r *request) (response, error) {
	p := r.params
	p.Require("token")
	id := p.String("token")
	if err := p.Err(); err != nil {
		return nil, err
	}
	if err := a.core.Auth.Revoke(r.ctx, id); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) revokeSelf(r *request) (response, error) {
	if err := a.core.Auth.Revoke(r.ctx, r.tokenID); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) revokeAccessor(r *request) (response, error) {
	acc, err := accessorParam(r.params)
	if err != nil {
		return nil, err
	}
	if err := a.core.Auth.RevokeAccessor(r.ctx, acc); err != nil {
		// Only an accessor no token has is Invalid here; Vault answers
		// that with a warning rather than an error.
		if apierr.KindOf(err) == apierr.KindInvalid {
			return &logical{Warnings: []string{"No token found with this accessor"}}, nil
		}
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) listRoles(r *request) (response, error) {
	names, err := a.core.Auth.ListRoles(r.ctx)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, apierr.NotFound("")
	}
	return &logical{Data: map[string]any{"keys": names}}, nil
}

func (a *API) readRole(r *request) (response, error) {
	role, err := a.core.Auth.GetRole(r.ctx, r.vars.ByName("name"))
	if err != nil {
		return nil, err
	}
	return &logical{Data: map[string]any{
		"name":                   role.Name,
		"allowed_policies":       nonNilStrings(role.AllowedPolicies),
		"disallowed_policies":    nonNilStrings(role.DisallowedPolicies),
		"orphan":                 role.Orphan,
		"renewable":              role.Renewable,
		"token_type":             role.TokenType,
		"token_ttl":              int64(role.TokenTTL / time.Second),
		"token_explicit_max_ttl": int64(role.TokenExplicitMaxTTL / time.Second),
	}}, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) writeRole(r *request) (response, error) {
	p := r.params
	name := r.vars.ByName("name")
	role := auth.Role{Name: name, Renewable: true, TokenType: "default-service"}
	// An update keeps what it does not mention, as Vault does.
	if existing, err := a.core.Auth.GetRole(r.ctx, name); err == nil {
		role = *existing
	} else if apierr.KindOf(err) != apierr.KindNotFound {
		return nil, err
	}
	if p.has("allowed_policies") {
		role.AllowedPolicies = p.Strings("allowed_policies")
	}
	if p.has("disallowed_policies") {
		role.DisallowedPolicies = p.Strings("disallowed_policies")
	}
	if p.has("orphan") {
		role.Orphan = p.Bool("orphan", false)
	}
	if p.has("renewable") {
		role.Renewable = p.Bool("renewable", true)
	}
	if t := p.String("token_type"); t != "" {
		role.TokenType = t
	}
	if p.has("token_ttl") {
		role.TokenTTL = p.Duration("token_ttl")
	}
	if p.has("token_explicit_max_ttl") {
		role.TokenExplicitMaxTTL = p.Duration("token_explicit_max_ttl")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if err := a.core.Auth.PutRole(r.ctx, role); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) deleteRole(r *request) (response, error) {
	if err := a.core.Auth.DeleteRole(r.ctx, r.vars.ByName("name")); err != nil {
		return nil, err
	}
	return noContent{}, nil
}
