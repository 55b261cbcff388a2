// Package auth implements Vault's token store, token roles, ACL policies and
// their evaluation on top of the replicated keyspace, so that a DR secondary
// holds exactly the tokens and policies of its primary and honours them
// after promotion.
//
// Everything is read from storage on every call: replication may rewrite the
// keyspace underneath at any time, so no cache of tokens, roles or policies
// could be trusted. The only cache holds parsed policies keyed by their raw
// text, which cannot go stale.
package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// maxParsedPolicies bounds the parsed-policy cache.
const maxParsedPolicies = 1024

// Manager owns tokens, roles and policies.
type Manager struct {
	store  storage.Data
	now    func() time.Time
	random io.Reader

	mu     sync.Mutex
	parsed map[string]*parsedPolicy // raw policy text → parsed form

	// tokenMu orders a renewal's read-modify-write of a token against its
	// revocation's delete, so a renewal cannot write back a revoked token.
	tokenMu sync.Mutex

	// tokens (by id hash) and acls (by policy set) spare each request its
	// storage reads (cache.go).
	tokens *genCache[*Token]
	acls   *genCache[*acl]
}

// New returns a Manager over store. now and random are injected so tests can
// control expiry and token generation; nil means time.Now and no randomness
// (every token creation then fails).
func New(store storage.Data, now func() time.Time, random io.Reader) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{
		store:  store,
		now:    now,
		random: random,
		parsed: map[string]*parsedPolicy{},
		tokens: newGenCache[*Token](watch(store, tokenPrefix)),
		acls:   newGenCache[*acl](watch(store, policyPrefix)),
	}
}

// HashID returns the hex SHA-256 of a token id: the only form in which ids
// are stored, so a copy of the database does not hand out usable tokens.
func HashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// randomBase62 returns n random characters of [0-9A-Za-z].
func (m *Manager) randomBase62(n int) (string, error) {
	return randid.Base62(m.random, n)
}
