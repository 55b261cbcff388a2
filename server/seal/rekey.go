package seal

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Rekey, as Vault's sys/rekey: a quorum of the current key shares makes a
// new root key, split into new shares (and a new threshold). The keyring's
// keys stay; it is sealed again under the new root key in the same commit
// as the new seal configuration, and both replicate, so DR secondaries
// unseal with the new shares and the old ones open nothing. With require_verification the
// new shares are handed out first and take effect only once a quorum of
// them is submitted to sys/rekey/verify. Everything lives in memory only.

// RekeyStatus is sys/rekey/init's answer (and sys/rekey/update's).
type RekeyStatus struct {
	Nonce                string   `json:"nonce"`
	Started              bool     `json:"started"`
	T                    int      `json:"t"`
	N                    int      `json:"n"`
	Progress             int      `json:"progress"`
	Required             int      `json:"required"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

// RekeyResult is sys/rekey/update's answer once the quorum is in.
type RekeyResult struct {
	Nonce                string   `json:"nonce"`
	Complete             bool     `json:"complete"`
	Keys                 []string `json:"keys,omitempty"`
	KeysB64              []string `json:"keys_base64,omitempty"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

// VerifyStatus is sys/rekey/verify's answer.
type VerifyStatus struct {
	Nonce    string `json:"nonce"`
	Started  bool   `json:"started"`
	T        int    `json:"t"`
	N        int    `json:"n"`
	Progress int    `json:"progress"`
	Complete bool   `json:"complete,omitempty"`
}

type rekeyAttempt struct {
	nonce               string
	shares, threshold   int
	requireVerification bool
	configSalt          []byte // the seal config the old shares belong to
	collected           [][]byte

	// Set once the old quorum is in and verification is required.
	pending           *sealConfig
	pendingRoot       []byte
	verificationNonce string
	verified          [][]byte
}

func (a *rekeyAttempt) wipe() {
	if a == nil {
		return
	}
	for _, s := range append(a.collected, a.verified...) {
		clear(s)
	}
	clear(a.pendingRoot)
}

// RekeyStatus reports the current rekey attempt.
func (m *Manager) RekeyStatus(ctx context.Context) (RekeyStatus, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return RekeyStatus{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rekeyStatusLocked(cfg), nil
}

func (m *Manager) rekeyStatusLocked(cfg *sealConfig) RekeyStatus {
	st := RekeyStatus{PGPFingerprints: nil}
	if cfg != nil {
		st.Required = cfg.SecretThreshold
	}
	a := m.rekey
	if a == nil {
		return st
	}
	st.Nonce, st.Started, st.T, st.N = a.nonce, true, a.threshold, a.shares
	st.Progress = len(a.collected)
	st.VerificationRequired = a.requireVerification
	st.VerificationNonce = a.verificationNonce
	return st
}

// RekeyInit starts a rekey to shares/threshold.
func (m *Manager) RekeyInit(ctx context.Context, shares, threshold int, requireVerification bool, pgp []string) (RekeyStatus, error) {
	if len(pgp) > 0 {
		return RekeyStatus{}, apierr.Invalid("pgp_keys are not supported by this server: omit them to receive the new key shares in plain hex and base64")
	}
	if err := validateInit(shares, threshold); err != nil {
		return RekeyStatus{}, err
	}
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return RekeyStatus{}, err
	}
	if cfg == nil {
		return RekeyStatus{}, apierr.Invalid("Vault is not initialized")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rekey != nil {
		return RekeyStatus{}, apierr.Invalid("rekey already in progress")
	}
	nonce, err := m.newNonce()
	if err != nil {
		return RekeyStatus{}, err
	}
	m.rekey = &rekeyAttempt{nonce: nonce, shares: shares, threshold: threshold, requireVerification: requireVerification, configSalt: bytes.Clone(cfg.VerificationSalt)}
	m.logger.Info("rekey started", "secret_shares", shares, "secret_threshold", threshold, "require_verification", requireVerification)
	return m.rekeyStatusLocked(cfg), nil
}

// RekeyCancel drops the attempt (and any pending verification).
func (m *Manager) RekeyCancel() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rekey.wipe()
	m.rekey = nil
}

func (m *Manager) rekeyAttemptLocked(nonce string) (*rekeyAttempt, error) {
	a := m.rekey
	if a == nil {
		return nil, apierr.Invalid("no rekey in progress")
	}
	if nonce != a.nonce {
		return nil, apierr.Invalid("incorrect nonce supplied: rekey nonce is %s", a.nonce)
	}
	return a, nil
}

// RekeyUpdate submits one current key share. When the threshold is reached
// the new shares are made and returned; without verification they replace
// the old ones at once.
func (m *Manager) RekeyUpdate(ctx context.Context, key, nonce string) (RekeyResult, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return RekeyResult{}, err
	}
	raw, err := DecodeKey(key)
	if err != nil {
		return RekeyResult{}, err
	}
	defer clear(raw)
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.rekeyAttemptLocked(nonce)
	if err != nil {
		return RekeyResult{}, err
	}
	if cfg == nil || !bytes.Equal(cfg.VerificationSalt, a.configSalt) {
		m.cancelRekeyLocked()
		return RekeyResult{}, apierr.Invalid("the seal configuration changed during the rekey; start again")
	}
	if a.pending != nil {
		return RekeyResult{}, apierr.Invalid("the new key shares were already made: submit them to sys/rekey/verify")
	}
	if len(raw) != cfg.keyLen() {
		return RekeyResult{}, apierr.Invalid("key share is %d bytes but this cluster's keys are %d bytes", len(raw), cfg.keyLen())
	}
	if err := CheckShare(raw, cfg.SecretThreshold, a.collected); err != nil {
		return RekeyResult{}, err
	}
	for _, s := range a.collected {
		if subtle.ConstantTimeCompare(s, raw) == 1 {
			return RekeyResult{Nonce: a.nonce}, nil
		}
	}
	a.collected = append(a.collected, bytes.Clone(raw))
	if len(a.collected) < cfg.SecretThreshold {
		return RekeyResult{Nonce: a.nonce}, nil
	}
	rootKey, ok := combineAndVerify(cfg, a.collected)
	clear(rootKey)
	if !ok {
		m.cancelRekeyLocked()
		return RekeyResult{}, apierr.Invalid("the submitted key shares do not combine into this cluster's root key; the rekey was cancelled")
	}
	return m.makeNewSharesLocked(ctx, a)
}

// cancelRekeyLocked is RekeyCancel with mu held.
func (m *Manager) cancelRekeyLocked() {
	m.rekey.wipe()
	m.rekey = nil
}

func (m *Manager) makeNewSharesLocked(ctx context.Context, a *rekeyAttempt) (RekeyResult, error) {
	rootKey, err := m.readRandom(rootKeyLen)
	if err != nil {
		return RekeyResult{}, err
	}
	var keys [][]byte
	if a.shares == 1 {
		keys = [][]byte{bytes.Clone(rootKey)}
	} else if keys, err = Split(rootKey, a.shares, a.threshold, m.random); err != nil {
		return RekeyResult{}, fmt.Errorf("seal: split root key: %w", err)
	}
	salt, err := m.readRandom(saltLen)
	if err != nil {
		return RekeyResult{}, err
	}
	next := &sealConfig{Type: SealType, SecretShares: a.shares, SecretThreshold: a.threshold, VerificationSalt: salt, VerificationHMAC: verificationMAC(rootKey, salt)}
	res := RekeyResult{Nonce: a.nonce, Complete: true, VerificationRequired: a.requireVerification}
	for _, k := range keys {
		res.Keys = append(res.Keys, fmt.Sprintf("%x", k))
		res.KeysB64 = append(res.KeysB64, base64.StdEncoding.EncodeToString(k))
		clear(k)
	}
	if a.requireVerification {
		a.pending, a.pendingRoot = next, rootKey
		if a.verificationNonce, err = m.newNonce(); err != nil {
			return RekeyResult{}, err
		}
		res.VerificationNonce = a.verificationNonce
		m.logger.Info("rekey: new key shares made, waiting for verification")
		return res, nil
	}
	defer clear(rootKey)
	if err := m.storeConfig(ctx, next, rootKey); err != nil {
		return RekeyResult{}, err
	}
	m.cancelRekeyLocked()
	m.logger.Info("rekey complete", "secret_shares", next.SecretShares, "secret_threshold", next.SecretThreshold)
	return res, nil
}

// storeConfig commits a rekey: the new seal configuration and, with a
// barrier, the keyring sealed under the new root key, in one transaction.
func (m *Manager) storeConfig(ctx context.Context, cfg *sealConfig, rootKey []byte) error {
	doc, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("seal: encode seal config: %w", err)
	}
	ops := []storage.Op{{Key: ConfigKey, Value: doc}}
	done := func() {}
	if m.keys != nil {
		more, commit, err := m.keys.Rekey(ctx, rootKey)
		if err != nil {
			return fmt.Errorf("seal: re-seal the keyring: %w", err)
		}
		ops, done = append(ops, more...), commit
	}
	if _, err := m.store.Write(ctx, ops...); err != nil {
		return fmt.Errorf("seal: store seal config: %w", err)
	}
	done()
	m.resetLocked() // an unseal attempt in progress used the old shares
	return nil
}

// VerifyStatus reports the pending verification.
func (m *Manager) VerifyStatus() (VerifyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.rekey
	if a == nil || a.pending == nil {
		return VerifyStatus{}, apierr.Invalid("no rekey verification in progress")
	}
	return VerifyStatus{Nonce: a.verificationNonce, Started: true, T: a.threshold, N: a.shares, Progress: len(a.verified)}, nil
}

// VerifyCancel restarts the verification: the new shares stay pending
// under a new nonce, as in Vault.
func (m *Manager) VerifyCancel() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.rekey
	if a == nil || a.pending == nil {
		return apierr.Invalid("no rekey verification in progress")
	}
	for _, s := range a.verified {
		clear(s)
	}
	a.verified = nil
	nonce, err := m.newNonce()
	if err != nil {
		return err
	}
	a.verificationNonce = nonce
	return nil
}

// VerifyUpdate submits one of the new shares; the quorum makes them the
// cluster's shares.
func (m *Manager) VerifyUpdate(ctx context.Context, key, nonce string) (VerifyStatus, error) {
	raw, err := DecodeKey(key)
	if err != nil {
		return VerifyStatus{}, err
	}
	defer clear(raw)
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.rekey
	if a == nil || a.pending == nil {
		return VerifyStatus{}, apierr.Invalid("no rekey verification in progress")
	}
	if nonce != a.verificationNonce {
		return VerifyStatus{}, apierr.Invalid("incorrect nonce supplied: verification nonce is %s", a.verificationNonce)
	}
	if len(raw) != a.pending.keyLen() {
		return VerifyStatus{}, apierr.Invalid("key share is %d bytes but the new keys are %d bytes", len(raw), a.pending.keyLen())
	}
	if err := CheckShare(raw, a.threshold, a.verified); err != nil {
		return VerifyStatus{}, err
	}
	for _, s := range a.verified {
		if subtle.ConstantTimeCompare(s, raw) == 1 {
			return VerifyStatus{Nonce: a.verificationNonce, Started: true, T: a.threshold, N: a.shares, Progress: len(a.verified)}, nil
		}
	}
	a.verified = append(a.verified, bytes.Clone(raw))
	st := VerifyStatus{Nonce: a.verificationNonce, Started: true, T: a.threshold, N: a.shares, Progress: len(a.verified)}
	if len(a.verified) < a.threshold {
		return st, nil
	}
	rootKey, ok := combineAndVerify(a.pending, a.verified)
	clear(rootKey)
	if !ok {
		for _, s := range a.verified {
			clear(s)
		}
		a.verified = nil
		return VerifyStatus{}, apierr.Invalid("the submitted key shares are not the new ones; verification progress was reset")
	}
	if err := m.storeConfig(ctx, a.pending, a.pendingRoot); err != nil {
		return VerifyStatus{}, err
	}
	m.cancelRekeyLocked()
	m.logger.Info("rekey verified and complete", "secret_shares", st.N, "secret_threshold", st.T)
	return VerifyStatus{Nonce: st.Nonce, Complete: true}, nil
}
