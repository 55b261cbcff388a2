package replication

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// A promotion needs a new DR CA, its cluster-port certificate and a
// wrapping key: three P-521 key pairs and two signatures. Made at promote
// time they were most of promote → first write (10-35 ms of 16-23 ms on a
// busy 2-core machine), so a secondary makes them ahead, in the background,
// and the promotion takes them. Each kit is used once; one older than
// kitMaxAge (the certificates' validity starts when it was made) is made
// again, so a promotion never uses stale material and usually finds a kit.

// kitMaxAge is how long a kit made ahead stays usable.
const kitMaxAge = time.Hour

// promotionKit is the key material one cluster needs to become a primary.
type promotionKit struct {
	clusterID  string
	made       time.Time
	ca         *drcrypto.CA
	serverCert []byte
	serverKey  []byte
	wrapPEM    []byte
}

// newPromotionKit makes a kit for the DR set clusterID.
func newPromotionKit(clusterID string, now time.Time) (*promotionKit, error) {
	ca, err := drcrypto.NewCA(clusterID, now)
	if err != nil {
		return nil, fmt.Errorf("create DR CA: %w", err)
	}
	serverCert, serverKey, err := ca.IssueServer(now)
	if err != nil {
		return nil, fmt.Errorf("issue cluster certificate: %w", err)
	}
	wrapKey, err := drcrypto.NewWrappingKey()
	if err != nil {
		return nil, fmt.Errorf("create wrapping key: %w", err)
	}
	wrapPEM, err := drcrypto.MarshalKey(wrapKey)
	if err != nil {
		return nil, err
	}
	return &promotionKit{clusterID: clusterID, made: now, ca: ca, serverCert: serverCert, serverKey: serverKey, wrapPEM: wrapPEM}, nil
}

// kitCache holds at most one kit made ahead.
type kitCache struct {
	mu  sync.Mutex
	kit *promotionKit
	// making is closed when the kit being made is stored (nil when none
	// is being made), so a promotion waits for it rather than making a
	// second one on a busy machine.
	making chan struct{}
}

// kitWait bounds how long a promotion waits for a kit being made before it
// makes its own.
const kitWait = 5 * time.Second

// fresh reports whether k can serve clusterID at now.
func (k *promotionKit) fresh(clusterID string, now time.Time) bool {
	return k != nil && k.clusterID == clusterID && now.Sub(k.made) < kitMaxAge && !now.Before(k.made)
}

// prepareKit makes a kit for clusterID in the background unless a fresh
// one is ready or being made. Cheap when one is: the syncer calls it every
// heartbeat interval.
func (m *Manager) prepareKit(clusterID string) {
	if clusterID == "" {
		return
	}
	c := &m.kits
	c.mu.Lock()
	if c.making != nil || c.kit.fresh(clusterID, m.now()) {
		c.mu.Unlock()
		return
	}
	done := make(chan struct{})
	c.making = done
	c.mu.Unlock()
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		kit, err := newPromotionKit(clusterID, m.now())
		c.mu.Lock()
		defer c.mu.Unlock()
		c.making = nil
		close(done)
		if err != nil {
			m.log.Warn("could not prepare the key material for a promotion (a promotion makes it then)", "error", err)
			return
		}
		c.kit = kit
	}()
}

// takeKit returns the kit made ahead for clusterID if it is fresh (waiting
// up to kitWait for one being made), else makes one now. The kit leaves the
// cache either way.
func (m *Manager) takeKit(ctx context.Context, clusterID string) (*promotionKit, error) {
	c := &m.kits
	c.mu.Lock()
	making := c.making
	c.mu.Unlock()
	if making != nil {
		wait := time.NewTimer(kitWait)
		select {
		case <-making:
		case <-wait.C:
		case <-ctx.Done():
		}
		wait.Stop()
	}
	now := m.now()
	c.mu.Lock()
	kit := c.kit
	c.kit = nil
	c.mu.Unlock()
	if kit.fresh(clusterID, now) {
		return kit, nil
	}
	return newPromotionKit(clusterID, now)
}
