package replication

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// The primary side of the state machine: enable, admit (secondary-token),
// revoke, demote and disable.

// EnablePrimary makes a disabled cluster the primary of a new DR set.
func (m *Manager) EnablePrimary(ctx context.Context, primaryClusterAddr string) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	switch cur.Mode {
	case ModePrimary:
		return nil, apierr.Invalid(m.say("this cluster is already a DR primary (cluster id %s): disable it first to start a new DR set"), cur.ClusterID)
	case ModeSecondary:
		return nil, apierr.Invalid("%s", m.say("this cluster is a DR secondary: promote it (sys/replication/dr/secondary/promote) to make it a primary, or disable it first"))
	}
	if primaryClusterAddr == "" {
		primaryClusterAddr = m.opts.ClusterAddr
	}
	if err := checkClusterAddr(primaryClusterAddr); err != nil {
		return nil, err
	}
	id, err := newUUID()
	if err != nil {
		return nil, err
	}
	next := &state{Mode: ModePrimary, ClusterID: id, drSecrets: drSecrets{ExchangeKey: cur.ExchangeKey}, LastReindexEpoch: cur.LastReindexEpoch}
	if err := m.becomePrimary(ctx, next, primaryClusterAddr); err != nil {
		return nil, err
	}
	m.roleChanged(ctx, "primary enable")
	m.log.Info(m.say("DR replication enabled as primary"), "cluster_id", id, "primary_cluster_addr", primaryClusterAddr)
	return &Result{Warnings: []string{m.say("This cluster is being enabled as a DR primary. Secondaries need an activation token from sys/replication/dr/primary/secondary-token; watch sys/replication/dr/status.")}}, nil
}

// becomePrimary gives next fresh keys and a new epoch, stores it and starts
// serving secondaries. Callers hold transition.
func (m *Manager) becomePrimary(ctx context.Context, next *state, primaryClusterAddr string, extra ...storage.Op) error {
	kit, err := m.takeKit(ctx, next.ClusterID) // made ahead on a secondary (promokit.go)
	if err != nil {
		return err
	}
	ca, serverCert, serverKey, wrapPEM := kit.ca, kit.serverCert, kit.serverKey, kit.wrapPEM
	epoch, err := newEpoch()
	if err != nil {
		return err
	}
	next.Mode = ModePrimary
	next.PrimaryClusterAddr = primaryClusterAddr
	next.CACert, next.CAKey = string(ca.CertPEM), string(ca.KeyPEM)
	next.ServerCert, next.ServerKey = string(serverCert), string(serverKey)
	next.WrappingKey = string(wrapPEM)
	next.Secondaries = map[string]*secondaryRecord{}
	next.SecondaryID, next.PrimaryAPIAddr, next.PrimaryCACert, next.ClientCert, next.ClientKey = "", "", "", "", ""
	next.KnownPrimaryClusterAddrs = nil
	if err := newTokenScope(next); err != nil {
		return err
	}
	op, err := m.stateOp(ctx, next)
	if err != nil {
		return err
	}
	m.stopSecondary()
	if err := m.store.SetEpoch(ctx, epoch, append(extra, op)...); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = next
	return m.startPrimaryLocked(next)
}

func checkClusterAddr(addr string) error {
	if _, err := dialAddress(addr); err != nil {
		return apierr.Invalid("primary_cluster_addr %q is not usable: %v; give host:port or https://host:port of the cluster port", addr, err)
	}
	return nil
}

// SecondaryToken admits a new secondary: it issues the secondary's client
// certificate and returns the activation token that carries it.
func (m *Manager) SecondaryToken(ctx context.Context, id string, ttl time.Duration, secondaryPublicKey string) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	if id == "" {
		return nil, apierr.Invalid("missing required parameter \"id\": name the secondary, e.g. \"dr-east\"")
	}
	if !validID.MatchString(id) {
		return nil, apierr.Invalid("secondary id %q is not valid: use letters, digits, '-', '_' or '.', up to 128 characters", id)
	}
	if _, taken := cur.Secondaries[id]; taken {
		return nil, apierr.Invalid(m.say("secondary id %q is already in use by a live secondary: revoke it with sys/replication/dr/primary/revoke-secondary or choose another id"), id)
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	var exchange *ecdh.PublicKey
	if secondaryPublicKey != "" {
		pub, err := drcrypto.ParsePublicKey(secondaryPublicKey)
		if err != nil {
			return nil, apierr.Invalid(m.say("secondary_public_key is not valid: %v; pass the value returned by sys/replication/dr/secondary/generate-public-key"), err)
		}
		exchange = pub
	}
	ca, err := drcrypto.LoadCA([]byte(cur.CACert), []byte(cur.CAKey))
	if err != nil {
		return nil, fmt.Errorf("load DR CA: %w", err)
	}
	now := m.now()
	certPEM, keyPEM, fingerprint, err := ca.IssueClient(id, now)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for secondary %s: %w", id, err)
	}
	bundle := drcrypto.Bundle{
		ClusterID:          cur.ClusterID,
		SecondaryID:        id,
		PrimaryClusterAddr: cur.PrimaryClusterAddr,
		PrimaryAPIAddr:     m.opts.APIAddr,
		CACert:             cur.CACert,
		ClientCert:         string(certPEM),
		ClientKey:          string(keyPEM),
		ExpiresAt:          now.Add(ttl).Unix(),
		RootKey:            m.rootKey(),
	}
	next := cur.clone()
	next.Secondaries[id] = &secondaryRecord{Fingerprint: fingerprint, IssuedAt: now.Unix()}

	if exchange != nil {
		token, err := drcrypto.SealBundle(exchange, bundle)
		if err != nil {
			return nil, fmt.Errorf("encrypt activation bundle: %w", err)
		}
		if err := m.commit(ctx, next); err != nil {
			return nil, err
		}
		m.log.Info(m.say("DR secondary admitted"), "secondary_id", id, "ttl", ttl, "delivery", "public key")
		return &Result{Data: map[string]any{"token": token}}, nil
	}

	wrapKey, err := drcrypto.UnmarshalKey([]byte(cur.WrappingKey))
	if err != nil {
		return nil, fmt.Errorf("load wrapping key: %w", err)
	}
	claims, err := drcrypto.NewClaims(m.opts.APIAddr, now, ttl)
	if err != nil {
		return nil, err
	}
	jti := claims.JTI
	token, err := drcrypto.SignJWT(wrapKey, claims)
	if err != nil {
		return nil, fmt.Errorf("sign activation token: %w", err)
	}
	entry := wrappedEntry{Bundle: bundle, CreatedAt: now.Unix(), TTL: int64(ttl / time.Second), Path: m.kind.path("primary/secondary-token")}
	raw, err := json.Marshal(entry)
	if err != nil {
		return nil, fmt.Errorf("encode wrapped response: %w", err)
	}
	if err := m.commit(ctx, next, storage.Op{Local: true, Key: m.wrappingKey(jti), Value: raw}); err != nil {
		return nil, err
	}
	m.log.Info(m.say("DR secondary admitted"), "secondary_id", id, "ttl", ttl, "delivery", "wrapped token")
	return &Result{WrapInfo: map[string]any{
		"token":            token,
		"accessor":         "",
		"ttl":              int64(ttl / time.Second),
		"creation_time":    now.UTC().Format(time.RFC3339Nano),
		"creation_path":    m.kind.path("primary/secondary-token"),
		"wrapped_accessor": "",
	}}, nil
}

// RevokeSecondary removes a secondary: its stream is closed now and its
// certificate is refused from then on.
func (m *Manager) RevokeSecondary(ctx context.Context, id string) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	if id == "" {
		return nil, apierr.Invalid("missing required parameter \"id\": name the secondary to revoke; known secondaries: %v", cur.knownSecondaries())
	}
	if _, ok := cur.Secondaries[id]; !ok {
		return nil, apierr.Invalid("no secondary %q is known to this primary; known secondaries: %v", id, cur.knownSecondaries())
	}
	next := cur.clone()
	delete(next.Secondaries, id)
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.primary != nil {
		m.primary.disconnect(id)
	}
	m.mu.Unlock()
	m.log.Info(m.say("DR secondary revoked"), "secondary_id", id)
	return &Result{Warnings: []string{fmt.Sprintf("Secondary %q was revoked: its stream is closed and its certificate is refused. Re-admit it with a new activation token.", id)}}, nil
}

// DemotePrimary turns a primary into a secondary that follows nobody,
// keeping its DR set and data. It refuses writes from now on.
func (m *Manager) DemotePrimary(ctx context.Context) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	next := &state{Mode: ModeSecondary, ClusterID: cur.ClusterID, Bootstrapped: true, drSecrets: drSecrets{ExchangeKey: cur.ExchangeKey}, LastReindexEpoch: cur.LastReindexEpoch}
	if err := newTokenScope(next); err != nil {
		return nil, err
	}
	if err := m.demotingPerformance(ctx); err != nil {
		return nil, fmt.Errorf("keep this cluster's own tokens and local mounts: %w", err)
	}
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.stopPrimaryLocked()
	m.mu.Unlock()
	m.quietPeer()
	m.roleChanged(ctx, "demote")
	m.log.Info(m.say("DR primary demoted to secondary"), "cluster_id", cur.ClusterID)
	return &Result{Warnings: []string{m.say("This cluster was demoted to a DR secondary with no primary: it refuses writes. Point it at the new primary with sys/replication/dr/secondary/update-primary.")}}, nil
}

// DisablePrimary leaves DR replication; live secondaries are cut off.
func (m *Manager) DisablePrimary(ctx context.Context) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	next := &state{Mode: ModeDisabled, drSecrets: drSecrets{ExchangeKey: cur.ExchangeKey}, LastReindexEpoch: cur.LastReindexEpoch}
	if err := newTokenScope(next); err != nil {
		return nil, err
	}
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.stopPrimaryLocked()
	m.mu.Unlock()
	m.roleChanged(ctx, "primary disable")
	m.log.Info(m.say("DR primary disabled"), "cluster_id", cur.ClusterID)
	return &Result{Warnings: []string{m.say("DR replication was disabled on this primary; its secondaries are cut off. Enabling it again creates a new DR set (new cluster id).")}}, nil
}
