package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// This file measures DR replication lag between two vaultrepl-server
// processes on the bench's PostgreSQL (one database each, same
// table_prefix), with the replication section's machinery: measureLagOn
// on a replCluster whose walDB is pgWAL.

// pgWAL is a walDB on a server's PostgreSQL database, read through a pool
// of read-only connections of this process (the apply log and caughtUp
// read the secondary at the same time).
type pgWAL struct {
	pool *pgxpool.Pool
	// lastSQL and walSQL are the two queries with the table prefix in.
	lastSQL, walSQL string
}

// openPgWAL connects to the database at url whose tables carry prefix.
func openPgWAL(ctx context.Context, url, prefix string) (*pgWAL, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgresql url: %w", err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgresql: %w", err)
	}
	// As on SQLite: a primary's plain commits leave meta.last_wal to the
	// once-a-second merkle save (their WAL rows carry the position); a
	// secondary's applies write both in one transaction. One statement is
	// one snapshot.
	return &pgWAL{
		pool: pool,
		lastSQL: `SELECT greatest(
	coalesce((SELECT value FROM ` + prefix + `meta WHERE name = 'last_wal'), 0),
	coalesce((SELECT max(idx) FROM ` + prefix + `wal), 0))`,
		walSQL: `SELECT idx, key FROM ` + prefix + `wal WHERE idx > $1 AND key >= $2 AND key < $3 ORDER BY idx`,
	}, nil
}

func (w *pgWAL) lastWAL(ctx context.Context) (uint64, error) {
	var v int64
	if err := w.pool.QueryRow(ctx, w.lastSQL).Scan(&v); err != nil {
		return 0, fmt.Errorf("read last_wal: %w", err)
	}
	return uint64(v), nil
}

// benchWALIndexes is benchWALIndexes on the PostgreSQL WAL table (keys
// are BYTEA, compared byte by byte like SQLite's BLOBs).
func (w *pgWAL) benchWALIndexes(ctx context.Context, after uint64, acks [][]time.Time) ([][]uint64, error) {
	idx := newBenchIndexes(acks)
	rows, err := w.pool.Query(ctx, w.walSQL, int64(after), []byte(benchKeyPrefix), []byte(benchKeyPrefix[:len(benchKeyPrefix)-1]+"0"))
	if err != nil {
		return nil, fmt.Errorf("read the primary's WAL: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var index int64
		var key []byte
		if err := rows.Scan(&index, &key); err != nil {
			return nil, fmt.Errorf("read the primary's WAL: %w", err)
		}
		setBenchIndex(idx, string(key), index)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the primary's WAL: %w", err)
	}
	return idx, nil
}

func (w *pgWAL) close() error {
	w.pool.Close()
	return nil
}

// measurePostgresLag measures lag at the maximum rate and at half of the
// rate measured, each on a fresh pair (databases named <prefix>lag<n>).
// It returns what it measured so far along with an error.
func measurePostgresLag(ctx context.Context, o options, pg *testserver.Postgres) ([]replLagResult, error) {
	lags := []replLagResult{}
	full, err := measurePostgresLagOnce(ctx, o, pg, 0, "max", 0)
	if err != nil {
		return lags, fmt.Errorf("lag at max rate: %w", err)
	}
	lags = append(lags, full)
	half, err := measurePostgresLagOnce(ctx, o, pg, 1, "half", full.WritesPerS/2)
	if err != nil {
		return lags, fmt.Errorf("lag at half rate: %w", err)
	}
	return append(lags, half), nil
}

// measurePostgresLagOnce starts a DR pair on two fresh databases, joins it
// over the API and runs measureLagOn.
func measurePostgresLagOnce(ctx context.Context, o options, pg *testserver.Postgres, n int, load string, rate float64) (res replLagResult, err error) {
	c, token, err := startPostgresPair(ctx, o, pg, n)
	if err != nil {
		return res, err
	}
	defer func() {
		if cErr := c.close(ctx); cErr != nil && err == nil {
			err = cErr
		}
	}()
	return measureLagOn(ctx, o, c, token, "postgresql replication lag at "+load+" rate", load, rate)
}

// startPostgresPair starts a primary and a secondary server process, each
// initialised and unsealed on its own database, makes them a DR pair
// exactly as an operator would (primary/enable, primary/secondary-token
// with the primary's root token, secondary/enable with the secondary's),
// and waits until the secondary streams WALs in sync. It returns the
// cluster (call close on it, also after an error: it is nil then) and the
// primary's root token.
func startPostgresPair(ctx context.Context, o options, pg *testserver.Postgres, n int) (c *replCluster, token string, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-pglag-")
	if err != nil {
		return nil, "", fmt.Errorf("create temp dir: %w", err)
	}
	urls := map[*serverProc]string{}
	c = &replCluster{o: o, dir: dir, api: newAPIClient(), dbs: map[*serverProc]walDB{}}
	c.openDB = func(p *serverProc) (walDB, error) { return openPgWAL(ctx, urls[p], pgTablePrefix) }
	defer func() {
		if err != nil {
			_ = c.close(ctx)
			c = nil
		}
	}()
	start := func(name string) (*serverProc, string, error) {
		url, err := pg.CreateDatabase(ctx, fmt.Sprintf("lag%d%s", n, name))
		if err != nil {
			return nil, "", err
		}
		ndir := filepath.Join(dir, name)
		if err := os.Mkdir(ndir, 0o700); err != nil {
			return nil, "", fmt.Errorf("create node dir: %w", err)
		}
		p, err := startPostgresServer(ctx, o, ndir, url)
		if err != nil {
			return nil, "", err
		}
		p.name += " " + name
		urls[p] = url
		tok, err := initUnsealMount(ctx, p, startLimit, false)
		return p, tok, err
	}
	if c.primary, token, err = start("primary"); err != nil {
		return nil, "", err
	}
	sec, secToken, err := start("secondary")
	if sec != nil {
		c.secondaries = append(c.secondaries, sec)
	}
	if err != nil {
		return nil, "", err
	}
	if err := c.api.call(ctx, http.MethodPut, c.primary, "sys/replication/dr/primary/enable", token, map[string]any{}, nil); err != nil {
		return nil, "", fmt.Errorf("enable dr primary: %w", err)
	}
	var out envelope
	if err := c.api.call(ctx, http.MethodPut, c.primary, "sys/replication/dr/primary/secondary-token", token, map[string]any{"id": "secondary"}, &out); err != nil {
		return nil, "", fmt.Errorf("secondary-token: %w", err)
	}
	if out.WrapInfo == nil || out.WrapInfo.Token == "" {
		return nil, "", fmt.Errorf("secondary-token answered no wrap_info.token")
	}
	if err := c.api.call(ctx, http.MethodPut, sec, "sys/replication/dr/secondary/enable", secToken, map[string]any{"token": out.WrapInfo.Token}, nil); err != nil {
		return nil, "", fmt.Errorf("enable secondary: %w", err)
	}
	if err := c.waitConverged(ctx, convergeLimit, 20*time.Millisecond); err != nil {
		return nil, "", err
	}
	return c, token, nil
}
