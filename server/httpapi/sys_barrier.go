package httpapi

import (
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// The barrier's key operations, in Vault's shapes: sys/rotate and
// sys/key-status (token and ACL, rotate needs sudo), and sys/rekey/* which,
// like generate-root, take the key shares as their credential. None is
// served on a DR secondary: its keyring and seal configuration are its
// primary's and arrive by replication.

func (a *API) rotate(r *request) (response, error) {
	if _, err := a.core.Barrier.Rotate(r.ctx); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) keyStatus(r *request) (response, error) {
	st, err := a.core.Barrier.Status(r.ctx)
	if err != nil {
		return nil, err
	}
	return &logical{Data: map[string]any{
		"term":         st.Term,
		"install_time": st.InstallTime.UTC().Format(time.RFC3339Nano),
		"encryptions":  st.Encryptions,
	}}, nil
}

func (a *API) rekeyStatus(r *request) (response, error) {
	st, err := a.core.Seal.RekeyStatus(r.ctx)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) rekeyInit(r *request) (response, error) {
	p := r.params
	shares, threshold := p.Int("secret_shares", 0), p.Int("secret_threshold", 0)
	verify := p.Bool("require_verification", false)
	pgp := p.Strings("pgp_keys")
	backup := p.Bool("backup", false)
	p.Int("stored_shares", 0)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if backup {
		return nil, apierr.Invalid("backup is only for PGP-encrypted keys, which this server does not support")
	}
	st, err := a.core.Seal.RekeyInit(r.ctx, shares, threshold, verify, pgp)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) rekeyCancel(_ *request) (response, error) {
	a.core.Seal.RekeyCancel()
	return noContent{}, nil
}

func (a *API) rekeyUpdate(r *request) (response, error) {
	p := r.params
	key, nonce := strings.TrimSpace(p.String("key")), p.String("nonce")
	if err := p.Err(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, apierr.Invalid("'key' must be specified in request body as JSON")
	}
	res, err := a.core.Seal.RekeyUpdate(r.ctx, key, nonce)
	if err != nil {
		return nil, err
	}
	if !res.Complete {
		st, err := a.core.Seal.RekeyStatus(r.ctx)
		if err != nil {
			return nil, err
		}
		return &raw{Body: st}, nil
	}
	return &raw{Body: res}, nil
}

func (a *API) rekeyVerifyStatus(_ *request) (response, error) {
	st, err := a.core.Seal.VerifyStatus()
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) rekeyVerifyCancel(_ *request) (response, error) {
	if err := a.core.Seal.VerifyCancel(); err != nil {
		return nil, err
	}
	st, err := a.core.Seal.VerifyStatus()
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}

func (a *API) rekeyVerifyUpdate(r *request) (response, error) {
	p := r.params
	key, nonce := strings.TrimSpace(p.String("key")), p.String("nonce")
	if err := p.Err(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, apierr.Invalid("'key' must be specified in request body as JSON")
	}
	st, err := a.core.Seal.VerifyUpdate(r.ctx, key, nonce)
	if err != nil {
		return nil, err
	}
	return &raw{Body: st}, nil
}
