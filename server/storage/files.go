package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// privateMode is the mode of the database and its -wal/-shm files: they
// hold every secret and the DR CA's private keys, so only the server's own
// user may read them.
const privateMode fs.FileMode = 0o600

// sqliteSidecars are the files SQLite keeps next to a WAL-mode database.
// SQLite gives them the database file's permission bits when it creates
// them, so a 0600 database gets 0600 sidecars whatever the umask.
var sqliteSidecars = [...]string{"-wal", "-shm"}

// prepareFile makes sure the database file exists with mode 0600 before
// SQLite opens it (SQLite would create it 0644 minus the umask), and, unless
// allowInsecure, refuses a database or sidecar that group or others may
// read or write. Errors name the file and what to do, not only the OS text.
func prepareFile(path string, allowInsecure bool) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("database folder %s does not exist: create it (mode 0700) or point -db elsewhere", dir)
		}
		return fmt.Errorf("database folder %s: %w", dir, err)
	} else if !st.IsDir() {
		return fmt.Errorf("database folder %s is not a folder", dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, privateMode)
	if err != nil {
		return fmt.Errorf("open database file %s: %w", path, err)
	}
	st, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("database file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("database file %s is not a regular file", path)
	}
	if allowInsecure {
		return nil
	}
	for _, p := range append([]string{path}, path+sqliteSidecars[0], path+sqliteSidecars[1]) {
		if err := checkPrivate(p); err != nil {
			return err
		}
	}
	return nil
}

// checkPrivate refuses a file that group or others may read or write; a
// missing file is fine (SQLite creates sidecars on demand).
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database file %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o066 != 0 {
		return fmt.Errorf("database file %s has mode %04o, readable or writable by group or others: run chmod 600 %s (or allow it with -allow-insecure-db-permissions, in a config file storage \"sqlite\" { allow_insecure_permissions = true })", path, perm, path)
	}
	return nil
}

// tightenSidecars sets -wal/-shm to 0600 after SQLite opened the database,
// for sidecars left by an older version or created by another program.
func tightenSidecars(path string) error {
	for _, suffix := range sqliteSidecars {
		p := path + suffix
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file %s: %w", p, err)
		}
		if st.Mode().Perm() != privateMode {
			if err := os.Chmod(p, privateMode); err != nil {
				return fmt.Errorf("make %s private: %w", p, err)
			}
		}
	}
	return nil
}
