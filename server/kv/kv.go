// Package kv is the version-1 key/value secrets mount: the data that DR
// replication exists to protect. Secrets live in the replicated keyspace.
package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Mount is a KV v1 mount whose keys live under a storage prefix.
type Mount struct {
	store  storage.Data
	prefix string
	name   string
}

// New returns the mount called name (e.g. "secret/") stored under prefix.
func New(store storage.Data, name, prefix string) *Mount {
	return &Mount{store: store, name: name, prefix: prefix}
}

// Name is the mount's path, e.g. "secret/".
func (m *Mount) Name() string { return m.name }

func (m *Mount) key(path string) (string, error) {
	if path == "" || strings.HasSuffix(path, "/") {
		return "", apierr.Invalid("%q is not a secret path: give a name after the mount, e.g. %sdb-password", m.name+path, m.name)
	}
	if strings.Contains(path, "//") || strings.HasPrefix(path, "/") {
		return "", apierr.Invalid("%q is not a valid secret path: remove the empty path segment", m.name+path)
	}
	return m.prefix + path, nil
}

// Read returns the secret at path, or an apierr.NotFound error.
func (m *Mount) Read(ctx context.Context, path string) (map[string]any, error) {
	key, err := m.key(path)
	if err != nil {
		return nil, err
	}
	raw, err := m.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.NotFound("")
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("decode stored secret: %w", err)
	}
	return data, nil
}

// Exists says whether a secret is stored at path (ACL create vs update).
func (m *Mount) Exists(ctx context.Context, path string) (bool, error) {
	key, err := m.key(path)
	if err != nil {
		return false, nil //nolint:nilerr // an invalid path does not exist; the write reports why
	}
	_, err = m.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check secret: %w", err)
	}
	return true, nil
}

// Write replaces the secret at path with data and returns its WAL index.
func (m *Mount) Write(ctx context.Context, path string, data map[string]any) (uint64, error) {
	key, err := m.key(path)
	if err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return 0, apierr.Invalid("missing data fields: send a JSON object with at least one key, e.g. {\"password\": \"...\"}")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return 0, apierr.Invalid("secret data cannot be stored as JSON: %v", err)
	}
	idx, err := m.store.Write(ctx, storage.Op{Key: key, Value: raw})
	if err != nil {
		return 0, fmt.Errorf("write secret: %w", err)
	}
	return idx, nil
}

// Delete removes the secret at path; deleting nothing is not an error.
func (m *Mount) Delete(ctx context.Context, path string) error {
	key, err := m.key(path)
	if err != nil {
		return err
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: key, Delete: true}); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}

// List returns the children of the folder at path ("" is the mount's root).
func (m *Mount) List(ctx context.Context, path string) ([]string, error) {
	if path != "" && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	keys, err := m.store.List(ctx, m.prefix+path)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return keys, nil
}
