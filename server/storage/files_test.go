package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNewDatabaseIsPrivate: the database and its -wal/-shm are created 0600
// even with a umask that lets everyone read and write (umask 0).
func TestNewDatabaseIsPrivate(t *testing.T) {
	old := syscall.Umask(0) // process-wide: this package's tests are not parallel
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "cluster.db")
	s := openSQLiteTest(t, path)
	if _, err := s.Write(context.Background(), put("a", "1")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", p, perm)
		}
	}
}

// TestInsecureDatabaseRefused: a database or sidecar readable or writable by
// group or others is refused with a message naming the file, its mode and
// the way out; AllowInsecurePermissions opens it.
func TestInsecureDatabaseRefused(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		mode       os.FileMode
	}{
		{"world-readable database", "", 0o644},
		{"group-writable database", "", 0o620},
		{"world-readable wal", "-wal", 0o604},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cluster.db")
			bad := path + tt.file
			for _, p := range []string{path, bad} {
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(bad, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), path, Options{})
			if err == nil {
				t.Fatal("Open succeeded, want a refusal")
			}
			for _, want := range []string{bad, "group or others", "chmod 600", "-allow-insecure-db-permissions"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			s, err := Open(context.Background(), path, Options{AllowInsecurePermissions: true})
			if err != nil {
				t.Fatalf("Open with AllowInsecurePermissions: %v", err)
			}
			_ = s.Close()
		})
	}
}

func TestDatabaseFolderMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := Open(context.Background(), filepath.Join(dir, "cluster.db"), Options{})
	if err == nil || !strings.Contains(err.Error(), dir+" does not exist") {
		t.Fatalf("Open in a missing folder: %v, want a message naming the folder", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Open created %s: %v", dir, err)
	}
}
