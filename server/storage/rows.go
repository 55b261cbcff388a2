package storage

// pendingRows holds a PostgreSQL transaction's key upserts and WAL rows
// until the next statement that must come after them (a read, a delete, a
// savepoint, the commit), which sends them as one multi-row statement per
// table (unnest over arrays) instead of one statement per row: the
// backend parses, plans and starts an executor once per batch rather than
// once per write. (SQLite runs its statements as they are issued: there,
// multi-row statements cost more CPU than one prepared statement per row.)
type pendingRows struct {
	kv  []kvRow
	wal []WALEntry
}

type kvRow struct {
	key    string
	value  []byte
	bucket int
}

func (p *pendingRows) empty() bool { return len(p.kv) == 0 && len(p.wal) == 0 }

func (p *pendingRows) reset() {
	clear(p.kv)
	clear(p.wal)
	p.kv, p.wal = p.kv[:0], p.wal[:0]
}

// lastPerKey drops every upsert that a later one of the same key
// overrides (PostgreSQL refuses to update one row twice in a statement).
// The rows hold upserts only: a delete sends them first.
func (p *pendingRows) lastPerKey() []kvRow {
	if len(p.kv) < 2 {
		return p.kv
	}
	last := make(map[string]int, len(p.kv))
	for i, r := range p.kv {
		last[r.key] = i
	}
	if len(last) == len(p.kv) {
		return p.kv
	}
	out := make([]kvRow, 0, len(last))
	for i, r := range p.kv {
		if last[r.key] == i {
			out = append(out, r)
		}
	}
	return out
}
