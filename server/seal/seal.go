// Package seal implements Vault's Shamir seal for vaultrepl-server: init
// (generate a root key and split it into key shares), unseal by submitting
// shares, seal, and verification of a set of shares against the cluster's
// seal configuration.
//
// The root key is never stored. What is stored, in the replicated keyspace,
// is the seal configuration together with data that lets a holder of the
// shares prove they combine into the root key. It is replicated on purpose so
// that a DR secondary can verify the primary's shares.
package seal

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

const (
	// ConfigKey is where the seal configuration lives in the replicated
	// keyspace.
	ConfigKey = "core/seal-config"

	// SealType is the only seal type this server implements.
	SealType = "shamir"

	// rootKeyLen matches Vault's default barrier key size (AES-256).
	rootKeyLen = 32
	saltLen    = 32

	// verificationLabel domain-separates the verification MAC so that the
	// stored tag cannot be confused with any other use of the root key.
	verificationLabel = "vaultrepl seal verification v1"
)

// Status is the seal state as Vault's sys/seal-status reports it.
type Status struct {
	Type        string
	Initialized bool
	Sealed      bool
	T           int
	N           int
	Progress    int
	Nonce       string
}

// sealConfig is the stored document at ConfigKey.
//
// Verification uses HMAC-SHA256 keyed with the root key over
// salt||verificationLabel. HMAC is a PRF under a uniformly random 256-bit key,
// so the stored tag reveals nothing usable about the root key and cannot be
// forged without it, while anyone holding enough shares can recompute it. The
// per-init random salt makes every cluster's tag distinct even if a root key
// were ever reused, and also identifies one particular init (see
// unsealProgress.configSalt). A plain hash of the root key would also work
// but would be a reusable fingerprint of the key itself.
type sealConfig struct {
	Type             string `json:"type"`
	SecretShares     int    `json:"secret_shares"`
	SecretThreshold  int    `json:"secret_threshold"`
	VerificationSalt []byte `json:"verification_salt"`
	VerificationHMAC []byte `json:"verification_hmac"`
}

// keyLen is the length of one submitted key: with a single share Vault hands
// out the root key itself, otherwise a Shamir share carries one extra byte.
func (c *sealConfig) keyLen() int { return KeyLen(c.SecretThreshold) }

func (c *sealConfig) validate() error {
	switch {
	case c.Type != SealType:
		return fmt.Errorf("unsupported seal type %q", c.Type)
	case c.SecretShares < 1 || c.SecretShares > maxParts:
		return fmt.Errorf("secret_shares %d out of range", c.SecretShares)
	case c.SecretThreshold < 1 || c.SecretThreshold > c.SecretShares:
		return fmt.Errorf("secret_threshold %d out of range", c.SecretThreshold)
	case c.SecretShares > 1 && c.SecretThreshold < 2:
		return errors.New("secret_threshold must be at least 2 with several shares")
	case len(c.VerificationSalt) == 0 || len(c.VerificationHMAC) != sha256.Size:
		return errors.New("verification data missing or malformed")
	}
	return nil
}

// verify reports, in constant time, whether rootKey is the key this config
// was created for.
func (c *sealConfig) verify(rootKey []byte) bool {
	return hmac.Equal(verificationMAC(rootKey, c.VerificationSalt), c.VerificationHMAC)
}

func verificationMAC(rootKey, salt []byte) []byte {
	mac := hmac.New(sha256.New, rootKey)
	mac.Write(salt)
	mac.Write([]byte(verificationLabel))
	return mac.Sum(nil)
}

// unsealProgress is one unseal attempt. It lives only in memory, like
// Vault's, so a restart always starts over.
type unsealProgress struct {
	// configSalt, threshold and shares identify the seal config the shares
	// were collected against: if replication replaces the config mid-attempt
	// the collected shares belong to another root key and are discarded.
	configSalt []byte
	threshold  int
	shareCount int
	shares     [][]byte
	nonce      string
}

// Manager owns the seal state of one server process. It is safe for
// concurrent use.
type Manager struct {
	store  *storage.Store
	random io.Reader
	logger *slog.Logger

	// initMu serialises Init so two concurrent calls cannot both find the
	// cluster uninitialised and both write a config.
	initMu sync.Mutex

	mu sync.Mutex
	// sealed is written only with mu held but read lock-free by Sealed,
	// which request handling calls on every request.
	sealed   atomic.Bool
	progress unsealProgress

	// keys, when set, receives the root key (keyholder.go).
	keys Keyholder
	// rekey is the sys/rekey attempt in progress (rekey.go).
	rekey *rekeyAttempt
}

// New returns a sealed Manager. A nil random means crypto/rand; a nil logger
// discards log output.
func New(store *storage.Store, random io.Reader, logger *slog.Logger) *Manager {
	if random == nil {
		random = crand.Reader
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		store:  store,
		random: &lockedReader{r: random},
		logger: logger,
	}
	m.sealed.Store(true)
	return m
}

// lockedReader lets callers inject readers that are not safe for concurrent
// use (deterministic test sources).
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

func (m *Manager) readRandom(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(m.random, b); err != nil {
		return nil, fmt.Errorf("seal: read random bytes: %w", err)
	}
	return b, nil
}

// loadConfig reads the seal config from storage every time, never from a
// cache: replication may rewrite the keyspace underneath this process. It
// returns nil, nil when the cluster is not initialised.
func (m *Manager) loadConfig(ctx context.Context) (*sealConfig, error) {
	raw, err := m.store.Get(ctx, ConfigKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read seal config: %w", err)
	}
	var cfg sealConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("seal: decode seal config at %s: %w", ConfigKey, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("seal: stored seal config at %s is invalid: %w", ConfigKey, err)
	}
	return &cfg, nil
}

// Initialized reports whether a seal config exists.
func (m *Manager) Initialized(ctx context.Context) (bool, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return false, err
	}
	return cfg != nil, nil
}

// validateInit applies Vault's rules for secret_shares and secret_threshold.
func validateInit(shares, threshold int) error {
	switch {
	case shares < 1 || shares > maxParts:
		return apierr.Invalid("secret_shares must be between 1 and %d, got %d", maxParts, shares)
	case threshold < 1:
		return apierr.Invalid("secret_threshold must be at least 1, got %d", threshold)
	case threshold > shares:
		return apierr.Invalid("secret_threshold (%d) must not exceed secret_shares (%d)", threshold, shares)
	case shares > 1 && threshold < 2:
		return apierr.Invalid("secret_threshold must be at least 2 when secret_shares is more than 1")
	}
	return nil
}

// Init generates a root key, stores the seal config and returns the raw key
// shares. With a single share the share is the root key itself, as in Vault.
// The cluster stays sealed afterwards.
func (m *Manager) Init(ctx context.Context, shares, threshold int) ([][]byte, error) {
	if err := validateInit(shares, threshold); err != nil {
		return nil, err
	}

	m.initMu.Lock()
	defer m.initMu.Unlock()

	existing, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, apierr.Invalid("Vault is already initialized")
	}

	rootKey, err := m.readRandom(rootKeyLen)
	if err != nil {
		return nil, err
	}
	defer clear(rootKey)
	salt, err := m.readRandom(saltLen)
	if err != nil {
		return nil, err
	}

	var out [][]byte
	if shares == 1 {
		out = [][]byte{bytes.Clone(rootKey)}
	} else {
		out, err = Split(rootKey, shares, threshold, m.random)
		if err != nil {
			return nil, fmt.Errorf("seal: split root key: %w", err)
		}
	}

	cfg := sealConfig{
		Type:             SealType,
		SecretShares:     shares,
		SecretThreshold:  threshold,
		VerificationSalt: salt,
		VerificationHMAC: verificationMAC(rootKey, salt),
	}
	doc, err := json.Marshal(&cfg)
	if err != nil {
		return nil, fmt.Errorf("seal: encode seal config: %w", err)
	}
	ops := []storage.Op{{Key: ConfigKey, Value: doc}}
	if m.keys != nil {
		more, err := m.keys.Initialize(rootKey)
		if err != nil {
			return nil, fmt.Errorf("seal: create keyring: %w", err)
		}
		ops = append(ops, more...)
	}
	if _, err := m.store.Write(ctx, ops...); err != nil {
		for _, s := range out {
			clear(s)
		}
		return nil, fmt.Errorf("seal: store seal config: %w", err)
	}

	m.mu.Lock()
	m.resetLocked()
	m.mu.Unlock()
	m.logger.Info("vault initialized", "secret_shares", shares, "secret_threshold", threshold)
	return out, nil
}

// Status reports the seal state, reading the seal config from storage.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return Status{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusLocked(cfg), nil
}

// statusLocked builds the status for cfg (nil: not initialised), first
// discarding progress collected against a different config.
func (m *Manager) statusLocked(cfg *sealConfig) Status {
	st := Status{Type: SealType, Sealed: m.sealed.Load()}
	if cfg == nil {
		return st
	}
	m.dropStaleLocked(cfg)
	st.Initialized = true
	st.T = cfg.SecretThreshold
	st.N = cfg.SecretShares
	st.Progress = len(m.progress.shares)
	st.Nonce = m.progress.nonce
	return st
}

func (m *Manager) dropStaleLocked(cfg *sealConfig) {
	p := &m.progress
	if len(p.shares) == 0 {
		return
	}
	if !bytes.Equal(p.configSalt, cfg.VerificationSalt) ||
		p.threshold != cfg.SecretThreshold || p.shareCount != cfg.SecretShares {
		m.resetLocked()
	}
}

// resetLocked discards the current unseal attempt, zeroing collected shares.
func (m *Manager) resetLocked() {
	for _, s := range m.progress.shares {
		clear(s)
	}
	m.progress = unsealProgress{}
}

// Unseal submits one key (hex or base64). A key already submitted in this
// attempt is ignored. When the threshold is reached the shares are combined
// and verified: on success the cluster is unsealed, on mismatch progress is
// reset and an apierr.Invalid error returned. On apierr errors the returned
// Status is the state after the call; on internal errors it is zero.
func (m *Manager) Unseal(ctx context.Context, key string) (Status, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return Status{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	if cfg == nil {
		return m.statusLocked(nil), apierr.Invalid("Vault is not initialized")
	}
	raw, err := DecodeKey(key)
	if err != nil {
		return m.statusLocked(cfg), err
	}
	defer clear(raw)

	if !m.sealed.Load() {
		return m.statusLocked(cfg), nil
	}
	m.dropStaleLocked(cfg)
	if len(raw) != cfg.keyLen() {
		return m.statusLocked(cfg), apierr.Invalid(
			"unseal key is %d bytes but this cluster's keys are %d bytes: submit one of the key shares returned by init",
			len(raw), cfg.keyLen())
	}
	p := &m.progress
	if err := CheckShare(raw, cfg.SecretThreshold, p.shares); err != nil {
		return m.statusLocked(cfg), err
	}
	for _, s := range p.shares {
		if subtle.ConstantTimeCompare(s, raw) == 1 {
			return m.statusLocked(cfg), nil
		}
	}
	if len(p.shares) == 0 {
		nonce, err := m.newNonce()
		if err != nil {
			return Status{}, err
		}
		p.nonce = nonce
		p.configSalt = bytes.Clone(cfg.VerificationSalt)
		p.threshold = cfg.SecretThreshold
		p.shareCount = cfg.SecretShares
	}
	p.shares = append(p.shares, bytes.Clone(raw))
	if len(p.shares) < cfg.SecretThreshold {
		return m.statusLocked(cfg), nil
	}

	rootKey, ok := combineAndVerify(cfg, p.shares)
	defer clear(rootKey)
	m.resetLocked()
	if !ok {
		m.logger.Warn("unseal failed: submitted key shares do not match this cluster's root key; progress reset")
		return m.statusLocked(cfg), apierr.Invalid(
			"the submitted key shares do not combine into this cluster's root key; unseal progress was reset, submit %d correct key shares",
			cfg.SecretThreshold)
	}
	if m.keys != nil {
		if err := m.keys.Unseal(ctx, rootKey); err != nil {
			m.logger.Error("unseal failed: the keyring did not open", "error", err)
			return Status{}, fmt.Errorf("seal: open keyring: %w", err)
		}
	}
	m.sealed.Store(false)
	m.logger.Info("vault unsealed")
	return m.statusLocked(cfg), nil
}

// combineAndVerify reports whether shares yield cfg's root key. A set that
// cannot even be combined (e.g. two shares with the same x-coordinate) is a
// mismatch, not an internal error: it is what a client submitted.
// On success it returns the root key, which the caller clears.
func combineAndVerify(cfg *sealConfig, shares [][]byte) ([]byte, bool) {
	if cfg.SecretThreshold == 1 {
		// Every "share" is the root key itself; all must be it.
		for _, s := range shares {
			if !cfg.verify(s) {
				return nil, false
			}
		}
		if len(shares) == 0 {
			return nil, false
		}
		return bytes.Clone(shares[0]), true
	}
	rootKey, err := Combine(shares)
	if err != nil {
		return nil, false
	}
	if !cfg.verify(rootKey) {
		clear(rootKey)
		return nil, false
	}
	return rootKey, true
}

// newNonce returns a random UUID identifying one unseal attempt.
func (m *Manager) newNonce() (string, error) {
	return randid.UUID(m.random)
}

// ResetUnseal discards the current unseal attempt.
func (m *Manager) ResetUnseal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked()
}

// Seal seals the cluster and discards any unseal attempt.
func (m *Manager) Seal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked()
	m.cancelRekeyLocked()
	if m.keys != nil {
		m.keys.Seal()
	}
	if !m.sealed.Swap(true) {
		m.logger.Info("vault sealed")
	}
}

// Sealed reports whether the cluster is sealed. It does not touch storage.
func (m *Manager) Sealed() bool {
	return m.sealed.Load()
}

// VerifyShares checks that raw key shares combine into the root key of the
// seal config currently in storage, without changing the seal state. Callers
// remove duplicate shares first.
func (m *Manager) VerifyShares(ctx context.Context, shares [][]byte) error {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return err
	}
	if cfg == nil {
		return apierr.Invalid("Vault is not initialized")
	}
	if len(shares) < cfg.SecretThreshold {
		return apierr.Invalid("%d key shares are required, got %d: submit at least the threshold number of key shares",
			cfg.SecretThreshold, len(shares))
	}
	for i, s := range shares {
		if len(s) != cfg.keyLen() {
			return apierr.Invalid("key share %d is %d bytes but this cluster's keys are %d bytes: submit the key shares returned by init",
				i+1, len(s), cfg.keyLen())
		}
	}
	rootKey, ok := combineAndVerify(cfg, shares)
	clear(rootKey)
	if !ok {
		return apierr.Invalid("the submitted key shares do not combine into this cluster's root key: submit correct key shares")
	}
	return nil
}

// DecodeKey decodes a key given as hex or as standard base64 (padded or
// not). Hex is tried first, as Vault does; a base64 string that happens to be
// valid hex is astronomically unlikely for real keys. Surrounding whitespace
// is ignored because keys are often pasted with a trailing newline.
func DecodeKey(key string) ([]byte, error) {
	k := strings.TrimSpace(key)
	if k == "" {
		return nil, apierr.Invalid("key must not be empty: submit a key share as hex or base64")
	}
	if b, err := hex.DecodeString(k); err == nil {
		return b, nil
	}
	// Base64 decoders skip embedded newlines, so a non-empty string can
	// still decode to nothing; that is not a key either.
	if b, err := base64.StdEncoding.DecodeString(k); err == nil && len(b) > 0 {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.DecodeString(k); err == nil && len(b) > 0 {
		return b, nil
	}
	return nil, apierr.Invalid("key must be a valid hex or base64 string")
}
