package replication

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// A secondary that asks for binary WAL frames (streamRequest.BinaryWAL)
// and a primary that grants them (the start frame's BinaryWAL) exchange,
// after the JSON start line, WAL frames as binary records and every other
// frame as the same JSON line as before. Decoding a JSON WAL frame (base64
// values, reflection per field) was a tenth of a secondary's CPU per
// applied write. A record starts with a zero byte, which no JSON line does:
//
//	record = 0x00 uvarint(count) entry*count
//	entry  = uvarint(index) uvarint(epoch) flags-byte(1: delete)
//	         uvarint(len(key)) key uvarint(len(value)) value varint(created_at)
//
// Either side of an older version simply never asks or never grants.
const walRecordTag = 0x00

// Bounds the reader applies before allocating, so a corrupt stream cannot
// make it allocate without limit.
const (
	maxStreamLineBytes  = 1 << 20
	maxWALRecordEntries = 1 << 20
	maxWALRecordBytes   = maxApplyBytes
)

var errBadWALRecord = errors.New("malformed WAL record")

// writeWALRecord writes entries as one binary WAL record.
func writeWALRecord(w io.Writer, entries []storage.WALEntry) error {
	bw := bufio.NewWriterSize(w, writeChunk)
	var scratch [3*binary.MaxVarintLen64 + 1]byte
	b := append(scratch[:0], walRecordTag)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	_, _ = bw.Write(b)
	for _, e := range entries {
		b = binary.AppendUvarint(scratch[:0], e.Index)
		b = binary.AppendUvarint(b, e.Epoch)
		flags := byte(0)
		if e.Delete {
			flags = 1
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		_, _ = bw.Write(b)
		_, _ = bw.WriteString(e.Key)
		_, _ = bw.Write(binary.AppendUvarint(scratch[:0], uint64(len(e.Value))))
		_, _ = bw.Write(e.Value)
		_, _ = bw.Write(binary.AppendVarint(scratch[:0], e.CreatedAt))
	}
	return bw.Flush() // the first write error, if any, sticks in bw
}

// readStreamFrame reads the next frame of a stream with binary WAL frames.
func readStreamFrame(r *bufio.Reader) (frame, error) {
	tag, err := r.Peek(1)
	// The newline that ends a JSON line may be left in front of a record
	// (the start line's, read by a json.Decoder).
	for err == nil && (tag[0] == '\n' || tag[0] == '\r' || tag[0] == ' ' || tag[0] == '\t') {
		_, _ = r.ReadByte()
		tag, err = r.Peek(1)
	}
	if err != nil {
		return frame{}, err
	}
	if tag[0] == walRecordTag {
		_, _ = r.ReadByte()
		entries, err := readWALRecord(r)
		return frame{Type: "wal", Entries: entries}, err
	}
	line, err := readLine(r, maxStreamLineBytes)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		return frame{}, fmt.Errorf("decode stream frame: %w", err)
	}
	return f, nil
}

// readLine reads up to and including the next newline, at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(line)+len(part) > limit {
			return nil, fmt.Errorf("stream frame longer than %d bytes", limit)
		}
		line = append(line, part...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

func readWALRecord(r *bufio.Reader) ([]storage.WALEntry, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n == 0 || n > maxWALRecordEntries {
		return nil, fmt.Errorf("%w: entry count", errBadWALRecord)
	}
	entries := make([]storage.WALEntry, 0, min(n, 4096))
	var total uint64
	for range n {
		var e storage.WALEntry
		if e.Index, err = binary.ReadUvarint(r); err != nil {
			return nil, fmt.Errorf("%w: index: %w", errBadWALRecord, err)
		}
		if e.Epoch, err = binary.ReadUvarint(r); err != nil {
			return nil, fmt.Errorf("%w: epoch: %w", errBadWALRecord, err)
		}
		flags, err := r.ReadByte()
		if err != nil || flags > 1 {
			return nil, fmt.Errorf("%w: flags", errBadWALRecord)
		}
		e.Delete = flags == 1
		key, err := readRecordBytes(r, min(maxSyncKeyBytes, maxWALRecordBytes-total))
		if err != nil {
			return nil, err
		}
		total += uint64(len(key))
		e.Key = string(key)
		if e.Value, err = readRecordBytes(r, min(maxSyncValueBytes, maxWALRecordBytes-total)); err != nil {
			return nil, err
		}
		total += uint64(len(e.Value))
		if e.CreatedAt, err = binary.ReadVarint(r); err != nil {
			return nil, fmt.Errorf("%w: created_at: %w", errBadWALRecord, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// readRecordBytes reads a uvarint length of at most limit and that many
// bytes (nil for none, as the JSON frame decodes an absent value).
func readRecordBytes(r *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > limit {
		return nil, fmt.Errorf("%w: length", errBadWALRecord)
	}
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadWALRecord, err)
	}
	return b, nil
}
