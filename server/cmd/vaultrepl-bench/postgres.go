package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/config"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/node"
)

// pgTargetRatio is issue 11's target: 16-client FULL KV writes on
// PostgreSQL at least twice its raw single-row commit rate.
const pgTargetRatio = 2

// pgReport is the PostgreSQL engine beside SQLite: the raw single-row
// commit rate of the same server (its floor) and KV writes at 1 and 16
// clients with FULL durability (synchronous_commit on, fsync on).
type pgReport struct {
	RawCommitsPerS float64         `json:"raw_commits_per_s"`
	RawCommits     int             `json:"raw_commits"`
	KVWrite        []kvWriteResult `json:"kv_write"`
	// Ratio is the 16-client KV write rate over the raw commit rate;
	// Target is issue 11's: 16-client FULL throughput >= 2x the raw rate.
	Ratio  float64 `json:"ratio_16_to_raw"`
	Target float64 `json:"target"`
}

// postgresSection starts a throwaway PostgreSQL (fsync on) for the run.
func postgresSection() section {
	return section{
		id:   "postgres",
		name: "PostgreSQL engine: raw single-row commits and KV writes (FULL)",
		run: func(ctx context.Context, o options, r *report) (failures int, err error) {
			pg, err := testserver.StartPostgres()
			if err != nil {
				return 0, fmt.Errorf("start postgresql (make postgres installs it): %w", err)
			}
			defer func() {
				if sErr := pg.Stop(); sErr != nil && err == nil {
					err = sErr
				}
			}()
			rep := &pgReport{Target: pgTargetRatio}
			rawURL, err := pg.CreateDatabase(ctx, "raw")
			if err != nil {
				return 0, err
			}
			if rep.RawCommits, rep.RawCommitsPerS, err = measureRawPostgres(ctx, rawURL, o.duration); err != nil {
				return 0, fmt.Errorf("raw commits: %w", err)
			}
			for i, clients := range clientCounts() {
				url, err := pg.CreateDatabase(ctx, "kv"+strconv.Itoa(i))
				if err != nil {
					return failures, err
				}
				res, err := measurePostgresKVWrite(ctx, o, clients, &config.Postgres{ConnectionURL: url, MaxParallel: 20})
				if err != nil {
					return failures, fmt.Errorf("%d clients: %w", clients, err)
				}
				res.RatioToRaw = res.WritesPerS / rep.RawCommitsPerS
				failures += res.Errors
				rep.KVWrite = append(rep.KVWrite, res)
				if clients == headlineClients {
					rep.Ratio = res.RatioToRaw
				}
			}
			r.Postgres = rep
			return failures, nil
		},
		table: func(w io.Writer, r *report) {
			p := r.Postgres
			if p == nil {
				return
			}
			_, _ = fmt.Fprintln(w, "what\tclients\tper s\tp50 ms\tp99 ms\terrors\tx raw\t")
			_, _ = fmt.Fprintf(w, "raw commit\t1\t%.0f\t\t\t\t\t\n", p.RawCommitsPerS)
			for _, res := range p.KVWrite {
				_, _ = fmt.Fprintf(w, "kv write\t%d\t%.0f\t%.2f\t%.2f\t%d\t%.2f\t\n", res.Clients, res.WritesPerS, res.P50MS, res.P99MS, res.Errors, res.RatioToRaw)
			}
			_, _ = fmt.Fprintf(w, "headline\t%d\t%.2f x raw\t(target >= %.0f)\t\t\t\t\n", headlineClients, p.Ratio, p.Target)
		},
	}
}

// measureRawPostgres commits one single-row INSERT per transaction
// (autocommit, synchronous_commit on) on one connection for d.
func measureRawPostgres(ctx context.Context, url string, d time.Duration) (int, float64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, `CREATE TABLE bench (k TEXT PRIMARY KEY, v BYTEA)`); err != nil {
		return 0, 0, err
	}
	value := make([]byte, 100) // the size of the KV section's bodies
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	rows := 0
	start := time.Now()
	deadline := start.Add(d)
	// The deadline is checked between transactions: cancelling one
	// mid-commit would measure a rollback.
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if _, err := conn.Exec(ctx, `INSERT INTO bench(k, v) VALUES($1, $2)`, "k"+strconv.Itoa(rows), value); err != nil {
			return 0, 0, errors.Join(errors.New("insert"), err)
		}
		rows++
	}
	return rows, float64(rows) / time.Since(start).Seconds(), nil
}

// measurePostgresKVWrite runs a dev node on PostgreSQL inside this process
// (the dev layout stays on SQLite for the server binary) under the same
// load as the kv_write section. Only throughput and latency are reported:
// the node shares this process with the load, so its CPU is not its own.
func measurePostgresKVWrite(ctx context.Context, o options, clients int, pg *config.Postgres) (res kvWriteResult, err error) {
	cfg := config.Config{
		ListenAddress:        "127.0.0.1:0",
		ClusterListenAddress: "127.0.0.1:0",
		// With port 0 the node replaces these with the real ports, but only
		// when they are derived from the listen addresses exactly like this.
		APIAddr:           "http://127.0.0.1:0",
		ClusterAddr:       "https://127.0.0.1:0",
		Postgres:          pg,
		Sync:              "full",
		Dev:               true, // initialised and unsealed; root token in n.DevRootToken
		LogLevel:          slog.LevelWarn,
		LogFormat:         "text",
		HeartbeatInterval: time.Second,
	}
	log := slog.New(slog.NewTextHandler(o.stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	n, err := node.Start(ctx, cfg, log)
	if err != nil {
		return res, fmt.Errorf("start node: %w", err)
	}
	defer func() {
		// The run's ctx may already be cancelled (interrupt); draining the
		// node must still happen, bounded by its own timeout.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if sErr := n.Shutdown(sctx); sErr != nil && err == nil {
			err = fmt.Errorf("shut down node: %w", sErr)
		}
	}()
	l, err := runLoad(ctx, o, loadSpec{
		apiAddr: n.APIAddr(), token: n.DevRootToken, prefix: "secret/bench/",
		clients: clients, duration: o.duration,
		label: fmt.Sprintf("postgresql, %d clients", clients),
	})
	if err != nil {
		return res, err
	}
	res = kvWriteResult{Sync: "full", Clients: clients, Errors: l.errors, Writes: l.writes()}
	res.WritesPerS = float64(res.Writes) / l.elapsed.Seconds()
	res.P50MS = ms(percentile(l.latencies, 50))
	res.P99MS = ms(percentile(l.latencies, 99))
	return res, nil
}
