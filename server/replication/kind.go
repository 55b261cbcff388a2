package replication

import (
	"context"
	"errors"
	"strings"
)

// Kind is which of Vault's two replication families a Manager runs. Both
// share the whole machinery (the state machine, activation tokens, the
// cluster port's mutual TLS, the WAL stream and the merkle repair); they
// differ where Vault's do: where their state lives, what a secondary
// receives and serves (filter.go, perfview.go), and the words in their answers.
type Kind string

// The two kinds, named as in Vault's paths (sys/replication/<kind>/...).
const (
	KindDR          Kind = "dr"
	KindPerformance Kind = "performance"
)

// PerformanceStateKey is where the performance replication state lives in
// the local keyspace, stored unencrypted like StateKey (keys.go).
const PerformanceStateKey = "replication/performance/state"

// stateKey is where this kind's durable state lives (local keyspace). The
// DR key predates kinds and is kept as it was.
func (k Kind) stateKey() string {
	if k == KindPerformance {
		return PerformanceStateKey
	}
	return stateKey
}

// secretsAAD binds the sealed keys to this kind's state key.
func (k Kind) secretsAAD() []byte { return []byte("l:" + k.stateKey() + "#secrets") }

// wrappingPrefix is where this kind's unspent activation bundles wait.
func (k Kind) wrappingPrefix() string { return "replication/" + string(k) + "/wrapping/" }

// path is an endpoint of this kind's family, e.g. path("primary/enable").
func (k Kind) path(rest string) string { return "sys/replication/" + string(k) + "/" + rest }

// valid says whether k is one of the two kinds.
func (k Kind) valid() bool { return k == KindDR || k == KindPerformance }

// say turns a message written for DR into this kind's words: the messages
// and warnings of the shared state machine are written once, for DR, and
// a performance Manager answers with the same sentences about its own
// family ("DR primary" → "performance primary", sys/replication/dr/… →
// sys/replication/performance/…).
func (m *Manager) say(msg string) string {
	if m.kind != KindPerformance {
		return msg
	}
	return sayPerformance.Replace(msg)
}

var sayPerformance = strings.NewReplacer(
	"/replication/dr/", "/replication/performance/",
	"DR set", "performance replication set",
	"DR ", "performance ",
)

// UnwrapAny unwraps an activation token minted by any of ms (a cluster's
// DR and performance Managers share sys/wrapping/unwrap, as in Vault). A
// token is checked against each Manager's signing key, which spends
// nothing when it does not match.
func UnwrapAny(ctx context.Context, token string, ms ...*Manager) (*Result, error) {
	return firstWrapped(ms, func(m *Manager) (*Result, error) { return m.Unwrap(ctx, token) })
}

// WrapLookupAny is WrapLookup over the Managers ms.
func WrapLookupAny(ctx context.Context, token string, ms ...*Manager) (*Result, error) {
	return firstWrapped(ms, func(m *Manager) (*Result, error) { return m.WrapLookup(ctx, token) })
}

func firstWrapped(ms []*Manager, f func(*Manager) (*Result, error)) (*Result, error) {
	for _, m := range ms {
		if m == nil {
			continue
		}
		res, err := f(m)
		if !errors.Is(err, errWrapping) {
			return res, err
		}
	}
	return nil, errWrapping
}
