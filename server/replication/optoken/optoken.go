// Package optoken implements DR operation token generation on a DR
// secondary (Vault Enterprise's sys/replication/dr/secondary/
// generate-operation-token endpoints) and the store of the tokens it
// generated.
//
// A DR secondary has no usable token store of its own: its replicated
// keyspace is the primary's. Operators therefore prove they control the
// primary by submitting a threshold of the primary's unseal key shares,
// which the secondary verifies against the replicated seal configuration,
// and receive a DR operation token that authorises replication
// operations on this secondary (promote, update-primary, ...).
//
// Generated tokens are kept in the LOCAL keyspace, hashed: they belong to
// this cluster only, must not be overwritten by the replication stream and
// must not be recoverable from a copy of the database.
package optoken

import (
	"context"
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
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/seal"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// OTPLength is the length of the one-time password that encodes a generated
// token, and of the token itself. Vault reports it as otp_length; clients
// (vault operator generate-root -dr-token) generate OTPs of this length.
const OTPLength = 28

const (
	// tokensPrefix holds one entry per live token, keyed by the token's
	// SHA-256 in hex.
	tokensPrefix = "replication/dr/optoken/tokens/"

	// tokenPrefix is Vault's service-token prefix; with 24 random base62
	// characters the token is exactly OTPLength long, as the XOR encoding
	// requires.
	tokenPrefix     = "hvs."
	tokenRandomLen  = OTPLength - len(tokenPrefix)
	base62Alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base62Threshold = 256 - 256%len(base62Alphabet) // 248: bytes at or above are rejected to avoid modulo bias

	attemptPath = "sys/replication/dr/secondary/generate-operation-token/attempt"
)

// Status is the body of the generate-operation-token endpoints, field for
// field as Vault returns it.
type Status struct {
	Started          bool   `json:"started"`
	Nonce            string `json:"nonce"`
	Progress         int    `json:"progress"`
	Required         int    `json:"required"`
	Complete         bool   `json:"complete"`
	EncodedToken     string `json:"encoded_token"`
	EncodedRootToken string `json:"encoded_root_token"` // left "": only sys/generate-root sets it, to EncodedToken
	PGPFingerprint   string `json:"pgp_fingerprint"`
	OTP              string `json:"otp"`
	OTPLength        int    `json:"otp_length"`
}

// ShareVerifier checks unseal key shares against the replicated seal
// configuration. *seal.Manager satisfies it.
type ShareVerifier interface {
	VerifyShares(ctx context.Context, shares [][]byte) error
	Status(ctx context.Context) (seal.Status, error)
}

// attempt is one running generation.
//
// It lives in memory only, never in storage, on purpose: the collected
// shares are pieces of the primary's root key, and writing them to disk
// (even to the local keyspace) would leave them in the SQLite file, its WAL
// and every backup. The price is that a restart cancels a running attempt,
// which is safe: the operators simply start again, exactly as with an
// interrupted unseal.
type attempt struct {
	nonce  string
	otp    string
	scope  string // the scope when it started; its token carries it
	shares [][]byte
}

// Kind is what a Generator mints and how its messages name it, so that
// sys/generate-root shares the attempt machinery (nonce, OTP, share
// collection and verification, encoding) with DR operation tokens.
type Kind struct {
	What        string // the token in messages: "operation token"
	LogWhat     string // the token in log lines: "DR operation token"
	AttemptPath string // the attempt endpoint that messages point to
	KeyOwner    string // whose root key the shares rebuild: "the primary's"
	// Mint creates and stores the token a completed attempt hands out,
	// bound to the scope the attempt started in (see SetScope; kinds that
	// have no scope ignore it). It must be OTPLength characters long.
	Mint func(ctx context.Context, scope string) (string, error)
}

// article is "an" or "a" for k.What.
func (k *Kind) article() string {
	if k.What != "" && strings.ContainsRune("aeiou", rune(k.What[0])) {
		return "an"
	}
	return "a"
}

// Generator runs DR operation token generation and answers whether a token
// is a live generated one. It is safe for concurrent use.
type Generator struct {
	store  storage.Data
	sealer ShareVerifier
	random io.Reader
	logger *slog.Logger
	now    func() time.Time
	kind   Kind
	scope  func() string

	// mu guards current and serialises every read of random, so injected
	// readers need not be safe for concurrent use.
	mu      sync.Mutex
	current *attempt
}

// New returns a Generator. A nil random means crypto/rand; a nil logger
// discards log output.
func New(store storage.Data, sealer ShareVerifier, random io.Reader, logger *slog.Logger) *Generator {
	if random == nil {
		random = crand.Reader
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Generator{store: store, sealer: sealer, random: random, logger: logger, now: time.Now, scope: func() string { return "" }}
	g.kind = Kind{What: "operation token", LogWhat: "DR operation token", AttemptPath: attemptPath, KeyOwner: "the primary's", Mint: g.createToken}
	return g
}

// NewKind returns a Generator of another kind of token: the attempt
// machinery of New with kind's token and messages. Check, Revoke and
// RevokeAll concern operation tokens only and are not for such Generators.
func NewKind(store storage.Data, sealer ShareVerifier, random io.Reader, logger *slog.Logger, kind Kind) *Generator {
	g := New(store, sealer, random, logger)
	g.kind = kind
	return g
}

// SetScope binds every token generated from now on to the scope scope()
// returns when its attempt starts, and makes Check refuse a token whose
// scope differs from the current one. DR replication passes its DR set,
// mode and a value that changes on every mode change, so no token outlives
// the role it was generated for even if a revocation is lost. Call it
// before the Generator is used; without it every token has the empty scope.
func (g *Generator) SetScope(scope func() string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.scope = scope
}

func (g *Generator) currentScope() string {
	g.mu.Lock()
	scope := g.scope
	g.mu.Unlock()
	return scope()
}

// threshold returns the number of key shares the primary's seal needs.
// It is read from storage every time because replication may replace the
// seal configuration at any moment.
func (g *Generator) threshold(ctx context.Context) (int, error) {
	st, err := g.sealer.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("optoken: read seal status: %w", err)
	}
	return st.T, nil
}

// statusLocked describes the current attempt (or its absence). It never
// carries the OTP: only Start may return it, once.
func (g *Generator) statusLocked(required int) Status {
	st := Status{Required: required, OTPLength: OTPLength}
	if a := g.current; a != nil {
		st.Started = true
		st.Nonce = a.nonce
		st.Progress = len(a.shares)
	}
	return st
}

// Status reports the running attempt, if any.
func (g *Generator) Status(ctx context.Context) (Status, error) {
	required, err := g.threshold(ctx)
	if err != nil {
		return Status{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.statusLocked(required), nil
}

// Start begins an attempt. With an empty otp a base62 OTP is generated and
// returned in Status.OTP; it is never returned again, as in Vault. On
// apierr errors the returned Status is the state after the call (without
// OTP); on internal errors it is zero.
func (g *Generator) Start(ctx context.Context, otp, pgpKey string) (Status, error) {
	required, err := g.threshold(ctx)
	if err != nil {
		return Status{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()

	if a := g.current; a != nil {
		return g.statusLocked(required), apierr.Invalid(
			"%s %s generation is already in progress (nonce %s); cancel it with DELETE %s or finish it",
			g.kind.article(), g.kind.What, a.nonce, g.kind.AttemptPath)
	}
	if pgpKey != "" {
		// Checked before the otp so that sending both gets the message
		// that explains what is supported.
		return g.statusLocked(required), apierr.Invalid(
			"PGP-encrypted %ss are not supported by this server: send an otp or nothing", g.kind.What)
	}
	if otp != "" {
		if len(otp) != OTPLength {
			return g.statusLocked(required), apierr.Invalid(
				"otp must be %d characters long, got %d: send an otp of %d characters or none to have one generated",
				OTPLength, len(otp), OTPLength)
		}
		for i := 0; i < len(otp); i++ {
			// The token is XORed with the OTP byte by byte; a multi-byte
			// character would make the character count above misleading.
			if otp[i] >= 0x80 {
				return g.statusLocked(required), apierr.Invalid(
					"otp must consist of ASCII characters: send an otp of %d ASCII characters or none to have one generated",
					OTPLength)
			}
		}
	}
	if required < 1 {
		return g.statusLocked(required), apierr.Invalid(
			"Vault is not initialized: no seal configuration has been replicated from the primary yet, so key shares cannot be verified")
	}

	generated := otp == ""
	if generated {
		if otp, err = g.randomBase62(OTPLength); err != nil {
			return Status{}, err
		}
	}
	nonce, err := g.newNonce()
	if err != nil {
		return Status{}, err
	}
	g.current = &attempt{nonce: nonce, otp: otp, scope: g.scope()}
	g.logger.Info(g.kind.LogWhat+" generation started", "nonce", nonce, "required", required, "otp_generated", generated)

	st := g.statusLocked(required)
	if generated {
		st.OTP = otp
	}
	return st, nil
}

// Cancel discards the running attempt and its shares. Without one it does
// nothing, as in Vault.
func (g *Generator) Cancel(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("optoken: cancel: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current != nil {
		nonce := g.current.nonce
		g.clearLocked()
		g.logger.Info(g.kind.LogWhat+" generation cancelled", "nonce", nonce)
	}
	return nil
}

// clearLocked discards the attempt, zeroing the collected shares so they do
// not linger in memory until the next garbage collection.
func (g *Generator) clearLocked() {
	if g.current == nil {
		return
	}
	for _, s := range g.current.shares {
		clear(s)
	}
	g.current = nil
}

// Update submits one key share (hex or base64) to the attempt with the given
// nonce. When the threshold is reached the shares are verified against the
// primary's root key and, if they match, a token is created and returned
// encoded with the attempt's OTP. On apierr errors the returned Status is
// the state after the call; on internal errors it is zero and the submitted
// share is not counted, so it can be submitted again.
func (g *Generator) Update(ctx context.Context, key, nonce string) (Status, error) {
	required, err := g.threshold(ctx)
	if err != nil {
		return Status{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()

	a := g.current
	if a == nil {
		return g.statusLocked(required), apierr.Invalid(
			"no %s generation in progress: start one with PUT %s", g.kind.What, g.kind.AttemptPath)
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(a.nonce)) != 1 {
		return g.statusLocked(required), apierr.Invalid(
			"the nonce does not match the running %s generation attempt: send the nonce returned when it was started (GET %s shows it)",
			g.kind.What, g.kind.AttemptPath)
	}
	raw, err := seal.DecodeKey(key)
	if err != nil {
		return g.statusLocked(required), err
	}
	for _, s := range a.shares {
		if subtle.ConstantTimeCompare(s, raw) == 1 {
			clear(raw)
			return g.statusLocked(required), apierr.Invalid(
				"this key share was already submitted in this attempt: submit a different key share")
		}
	}
	// A share that cannot be part of a correct set is refused here, without
	// counting: counted, it would cancel the whole attempt at the threshold.
	if required >= 1 {
		if err := seal.CheckShare(raw, required, a.shares); err != nil {
			clear(raw)
			return g.statusLocked(required), err
		}
	}
	a.shares = append(a.shares, raw)
	if required < 1 || len(a.shares) < required {
		// required < 1 means the seal config vanished (replication reset);
		// keep the share and let the next update, or Cancel, sort it out
		// rather than verifying against nothing.
		return g.statusLocked(required), nil
	}

	if err := g.sealer.VerifyShares(ctx, a.shares); err != nil {
		if apierr.KindOf(err) == 0 {
			g.dropLastShareLocked()
			return Status{}, fmt.Errorf("optoken: verify key shares: %w", err)
		}
		g.clearLocked()
		g.logger.Warn(g.kind.LogWhat+" generation failed: key shares do not combine into "+g.kind.KeyOwner+" root key; attempt cancelled", "nonce", a.nonce)
		return g.statusLocked(required), apierr.Invalid(
			"the submitted key shares do not combine into %s root key (%s); the attempt (nonce %s) was cancelled: start again with PUT %s and submit %d correct key shares",
			g.kind.KeyOwner, err.Error(), a.nonce, g.kind.AttemptPath, required)
	}

	token, err := g.kind.Mint(ctx, a.scope)
	if err != nil {
		g.dropLastShareLocked()
		return Status{}, err
	}
	encoded := encodeToken(token, a.otp)
	st := g.statusLocked(required)
	st.Complete = true
	st.EncodedToken = encoded
	g.clearLocked()
	g.logger.Info(g.kind.LogWhat+" generated", "nonce", a.nonce)
	return st, nil
}

// dropLastShareLocked undoes the share added by a failing Update so that
// an internal error (storage, context) does not consume the share.
func (g *Generator) dropLastShareLocked() {
	a := g.current
	last := len(a.shares) - 1
	clear(a.shares[last])
	a.shares = a.shares[:last]
}

// tokenRecord is the stored value for one token. The token itself is not
// stored, only its hash (the key).
type tokenRecord struct {
	CreatedAt time.Time `json:"created_at"`
	Scope     string    `json:"scope,omitempty"` // see SetScope
}

// createToken makes a new token and records its hash.
func (g *Generator) createToken(ctx context.Context, scope string) (string, error) {
	suffix, err := g.randomBase62(tokenRandomLen)
	if err != nil {
		return "", err
	}
	token := tokenPrefix + suffix
	doc, err := json.Marshal(tokenRecord{CreatedAt: g.now().UTC(), Scope: scope})
	if err != nil {
		return "", fmt.Errorf("optoken: encode token record: %w", err)
	}
	if _, err := g.store.Write(ctx, storage.Op{Local: true, Key: tokenKey(token), Value: doc}); err != nil {
		return "", fmt.Errorf("optoken: store operation token: %w", err)
	}
	return token, nil
}

// tokenKey is where a token's record lives. Hashing keeps the token out of
// the database and makes the key safe whatever characters a caller sends.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokensPrefix + hex.EncodeToString(sum[:])
}

// encodeToken is Vault's roottoken.EncodeToken: the ASCII bytes of token
// XORed with those of otp, in unpadded standard base64. Both are OTPLength
// long by construction.
func encodeToken(token, otp string) string {
	b := make([]byte, len(token))
	subtle.XORBytes(b, []byte(token), []byte(otp))
	return base64.RawStdEncoding.EncodeToString(b)
}

// Check returns nil when token is a live token generated on this cluster,
// otherwise an apierr.PermissionDenied error that does not repeat the token.
func (g *Generator) Check(ctx context.Context, token string) error {
	if token == "" {
		return errInvalidToken()
	}
	raw, err := g.store.LocalGet(ctx, tokenKey(token))
	if errors.Is(err, storage.ErrNotFound) {
		return errInvalidToken()
	}
	if err != nil {
		return fmt.Errorf("optoken: look up operation token: %w", err)
	}
	var rec tokenRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("optoken: decode operation token record: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(rec.Scope), []byte(g.currentScope())) != 1 {
		return errInvalidToken()
	}
	return nil
}

func errInvalidToken() error {
	return apierr.PermissionDenied(
		"invalid dr_operation_token: it is unknown, revoked or was generated on another cluster; generate one with generate-operation-token")
}

// Revoke revokes token. The token is also the credential of the request
// (Vault's operation-token/delete revokes the token it is called with), so
// an unknown token is a permission error rather than a silent success.
func (g *Generator) Revoke(ctx context.Context, token string) error {
	if err := g.Check(ctx, token); err != nil {
		return err
	}
	if _, err := g.store.Write(ctx, storage.Op{Local: true, Delete: true, Key: tokenKey(token)}); err != nil {
		return fmt.Errorf("optoken: revoke operation token: %w", err)
	}
	g.logger.Info("DR operation token revoked")
	return nil
}

// RevokeAll revokes every generated token. Promotion calls it: once the
// cluster is a primary, DR operation tokens must no longer authorise
// anything. A running attempt is cancelled too, since its result would be
// a token for a role the cluster no longer has.
func (g *Generator) RevokeAll(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current != nil {
		nonce := g.current.nonce
		g.clearLocked()
		g.logger.Info("DR operation token generation cancelled", "nonce", nonce, "reason", "all operation tokens revoked")
	}
	names, err := g.store.LocalList(ctx, tokensPrefix)
	if err != nil {
		return fmt.Errorf("optoken: list operation tokens: %w", err)
	}
	ops := make([]storage.Op, 0, len(names))
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue // nothing nests under tokensPrefix; ignore rather than fail
		}
		ops = append(ops, storage.Op{Local: true, Delete: true, Key: tokensPrefix + name})
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := g.store.Write(ctx, ops...); err != nil {
		return fmt.Errorf("optoken: revoke %d operation tokens: %w", len(ops), err)
	}
	g.logger.Info("all DR operation tokens revoked", "count", len(ops))
	return nil
}

// randomBase62 returns n random characters of [0-9A-Za-z]. Callers hold g.mu.
func (g *Generator) randomBase62(n int) (string, error) {
	return randid.Base62(g.random, n)
}

// newNonce returns a random UUID identifying one attempt. Callers hold g.mu.
func (g *Generator) newNonce() (string, error) {
	return randid.UUID(g.random)
}
