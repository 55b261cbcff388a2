package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// A secondary's applies are relaxed batches (no fsync of their own), and
// the writer's automatic checkpoint still ran inside whichever apply
// crossed walAutocheckpoint pages: it copied up to ~32 MiB of frames into
// the database file and fsynced it while the apply loop waited, 50-100 ms
// every second or two at a couple of thousand writes per second, which
// was the secondary's replication lag at the 99th percentile. So while
// relaxed batches commit, a checkpointer on its own connection copies the
// frames in the background (PASSIVE: it never blocks the writer, and the
// writer's own checkpoint gives up at once while it runs). The writer keeps
// its automatic checkpoint, which bounds the -wal file as before but now
// finds the frames already copied, and so has little or nothing left to do
// when it crosses the threshold.

// checkpointEvery is how often the background checkpoint runs at most while
// relaxed batches commit.
const checkpointEvery = 250 * time.Millisecond

type checkpointer struct {
	// mu is held across each checkpoint: another checkpoint (Compact's)
	// takes it to run without meeting this one.
	mu   sync.Mutex
	db   *sql.DB
	kick chan struct{}
	stop chan struct{}
	done sync.WaitGroup
}

// startCheckpointer opens the checkpointer's connection to path.
func startCheckpointer(path string, sync SyncMode) (*checkpointer, error) {
	db, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=0", path, sync))
	if err != nil {
		return nil, fmt.Errorf("open checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	c.done.Add(1)
	go c.run()
	return c, nil
}

// relaxedCommit tells the checkpointer that a relaxed batch committed.
func (c *checkpointer) relaxedCommit() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer c.done.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		// A failure (the database busy with a writer's own checkpoint, a
		// closing store) only leaves the work to the writer, as before.
		c.mu.Lock()
		_, _ = c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		c.mu.Unlock()
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	c.done.Wait()
	return c.db.Close()
}
