package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The HA lock is one row in PostgreSQL. Its token grows by one at every
// takeover and is the fencing token: a write transaction commits only if
// the row still carries the token this node acquired (pgTx.commit). Times
// are the database's clock, so the nodes' clocks need not agree.

// ErrNoHA is returned by the lock methods of a store without HA (SQLite,
// or PostgreSQL without ha_enabled).
var ErrNoHA = errors.New("storage: HA is not enabled on this storage")

// LockHolder describes the active node as the lock row records it.
type LockHolder struct {
	Holder      string
	Token       int64
	APIAddr     string
	ClusterAddr string
	AcquiredAt  time.Time
	ExpiresAt   time.Time
	// Expired is the database's verdict (its clock, not ours).
	Expired bool
}

// HANode is one node as it last announced itself.
type HANode struct {
	ID          string
	Hostname    string
	APIAddr     string
	ClusterAddr string
	LastSeen    time.Time
}

// HAEnabled reports whether writes are fenced by the HA lock.
func (s *Store) HAEnabled() bool {
	pg, ok := s.db.(*pgEngine)
	return ok && pg.ha
}

func (s *Store) haEngine() (*pgEngine, error) {
	pg, ok := s.db.(*pgEngine)
	if !ok || !pg.ha {
		return nil, ErrNoHA
	}
	return pg, nil
}

// TryLock takes the HA lock for holder when it is free (never taken,
// released or expired) and returns the new fencing token; ok is false
// when another node holds it. It does not yet let this node write: call
// Activate with the token.
func (s *Store) TryLock(ctx context.Context, holder, apiAddr, clusterAddr string, ttl time.Duration) (int64, bool, error) {
	pg, err := s.haEngine()
	if err != nil {
		return 0, false, err
	}
	var token int64
	err = pg.pool.QueryRow(ctx, `INSERT INTO `+pg.p+`ha_lock AS l (name, holder, token, expires_at, acquired_at, api_addr, cluster_addr)
VALUES ('active', $1, 1, clock_timestamp() + $2 * interval '1 millisecond', clock_timestamp(), $3, $4)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = l.token + 1, expires_at = excluded.expires_at,
	acquired_at = excluded.acquired_at, api_addr = excluded.api_addr, cluster_addr = excluded.cluster_addr
WHERE l.expires_at < clock_timestamp()
RETURNING token`, holder, ttl.Milliseconds(), apiAddr, clusterAddr).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("take HA lock: %w", err)
	}
	return token, true, nil
}

// RenewLock extends the lease of token; false means the lock was lost
// (another node took it after it expired).
func (s *Store) RenewLock(ctx context.Context, token int64, ttl time.Duration) (bool, error) {
	pg, err := s.haEngine()
	if err != nil {
		return false, err
	}
	tag, err := pg.pool.Exec(ctx, `UPDATE `+pg.p+`ha_lock SET expires_at = clock_timestamp() + $2 * interval '1 millisecond' WHERE name = 'active' AND token = $1`, token, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("renew HA lock: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLock ends the lease of token at once (step-down, clean shutdown)
// and stops this node's writes first, so a standby may take over without
// waiting for the lease to run out.
func (s *Store) ReleaseLock(ctx context.Context, token int64) error {
	pg, err := s.haEngine()
	if err != nil {
		return err
	}
	s.Deactivate()
	if _, err := pg.pool.Exec(ctx, `UPDATE `+pg.p+`ha_lock SET expires_at = clock_timestamp() - interval '1 millisecond' WHERE name = 'active' AND token = $1`, token); err != nil {
		return fmt.Errorf("release HA lock: %w", err)
	}
	return nil
}

// Holder reads the lock row; false when no node ever held it.
func (s *Store) Holder(ctx context.Context) (LockHolder, bool, error) {
	pg, err := s.haEngine()
	if err != nil {
		return LockHolder{}, false, err
	}
	var h LockHolder
	err = pg.pool.QueryRow(ctx, `SELECT holder, token, api_addr, cluster_addr, acquired_at, expires_at, expires_at < clock_timestamp() FROM `+pg.p+`ha_lock WHERE name = 'active'`).
		Scan(&h.Holder, &h.Token, &h.APIAddr, &h.ClusterAddr, &h.AcquiredAt, &h.ExpiresAt, &h.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return LockHolder{}, false, nil
	}
	if err != nil {
		return LockHolder{}, false, fmt.Errorf("read HA lock: %w", err)
	}
	return h, true, nil
}

// Activate lets this node write under token: it reloads the position and
// merkle index that the previous active node moved, inside the commit
// loop so no batch sees half of it, then sets the fencing token.
func (s *Store) Activate(ctx context.Context, token int64) error {
	pg, err := s.haEngine()
	if err != nil {
		return err
	}
	_, err = s.submit(ctx, &writeRequest{result: make(chan writeResult, 1), reload: func(ctx context.Context) error {
		if err := s.reload(ctx); err != nil {
			return err
		}
		pg.fence.Store(token)
		return nil
	}})
	if err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	return nil
}

// Deactivate stops this node's writes: every later transaction fails with
// ErrFenced until the next Activate.
func (s *Store) Deactivate() {
	if pg, ok := s.db.(*pgEngine); ok && pg.ha {
		pg.fence.Store(0)
	}
}

// reload re-reads the position and merkle index from the database.
func (s *Store) reload(ctx context.Context) error {
	fresh := &Store{db: s.db, log: s.log}
	if err := fresh.load(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.epoch, s.last, s.lastEpoch, s.merkle = fresh.epoch, fresh.last, fresh.lastEpoch, fresh.merkle
	s.saved, s.metaRows = fresh.saved, fresh.metaRows
	// Other nodes wrote since this one last did: the in-memory WAL tail
	// and every cache above the store are stale.
	s.recent.clear()
	notify := s.notify
	s.notify = make(chan struct{})
	s.mu.Unlock()
	s.bumpAllWatches()
	close(notify)
	return nil
}

// AnnounceNode records that node id is alive (sys/ha-status lists the
// nodes seen recently).
func (s *Store) AnnounceNode(ctx context.Context, n HANode) error {
	pg, err := s.haEngine()
	if err != nil {
		return err
	}
	_, err = pg.pool.Exec(ctx, `INSERT INTO `+pg.p+`ha_nodes(id, hostname, api_addr, cluster_addr, last_seen) VALUES($1, $2, $3, $4, clock_timestamp())
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, api_addr = excluded.api_addr, cluster_addr = excluded.cluster_addr, last_seen = excluded.last_seen`, n.ID, n.Hostname, n.APIAddr, n.ClusterAddr)
	if err != nil {
		return fmt.Errorf("announce HA node: %w", err)
	}
	return nil
}

// HANodes lists the nodes seen within the last window.
func (s *Store) HANodes(ctx context.Context, window time.Duration) ([]HANode, error) {
	pg, err := s.haEngine()
	if err != nil {
		return nil, err
	}
	rows, err := pg.pool.Query(ctx, `SELECT id, hostname, api_addr, cluster_addr, last_seen FROM `+pg.p+`ha_nodes WHERE last_seen > clock_timestamp() - $1 * interval '1 millisecond' ORDER BY id`, window.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("list HA nodes: %w", err)
	}
	defer rows.Close()
	var out []HANode
	for rows.Next() {
		var n HANode
		if err := rows.Scan(&n.ID, &n.Hostname, &n.APIAddr, &n.ClusterAddr, &n.LastSeen); err != nil {
			return nil, fmt.Errorf("list HA nodes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
