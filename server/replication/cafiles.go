package replication

import (
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// Limits on the CA files secondary enable and update-primary read for the
// unwrap call. The paths come from a request, so the files are treated as
// hostile: only regular files, of bounded size and number, and errors that
// name the problem without the operating system's text (which would tell
// whether an arbitrary path exists or is readable).
const (
	// MaxCAFileBytes bounds one file named by ca_file or found in ca_path.
	MaxCAFileBytes = 1 << 20
	// MaxCAPathEntries bounds the entries of a ca_path folder; a system
	// folder such as /etc/ssl/certs holds a few hundred.
	MaxCAPathEntries = 1000
	// MaxCAPathBytes bounds the certificates read from a ca_path in all.
	MaxCAPathBytes = 16 << 20
)

// errCAFile is the one reason a CA file could not be used.
type errCAFile string

func (e errCAFile) Error() string { return string(e) }

const (
	errNotRegular errCAFile = "is not a regular file"
	errTooLarge   errCAFile = "is larger than 1 MiB"
	errUnreadable errCAFile = "could not be read"
)

// loadCAPool reads ca_file and ca_path into a pool. Callers have already
// checked the activation token as far as this cluster can.
func loadCAPool(caFile, caPath string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if caFile != "" {
		pem, err := readCAFile(caFile)
		if err != nil {
			return nil, apierr.Invalid("ca_file %s: pass the path of a PEM file holding the primary API's CA certificate", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, apierr.Invalid("ca_file holds no PEM certificate: pass the path of a PEM file holding the primary API's CA certificate")
		}
	}
	if caPath != "" {
		if err := addCAPath(pool, caPath); err != nil {
			return nil, err
		}
	}
	return pool, nil
}

// addCAPath adds every regular file of dir to pool; other entries are
// skipped, as OpenSSL's c_rehash folders hold symbolic links and more.
func addCAPath(pool *x509.CertPool, dir string) error {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return apierr.Invalid("ca_path is not a readable folder: pass the path of a folder of PEM files")
	}
	d, err := os.Open(dir)
	if err != nil {
		return apierr.Invalid("ca_path is not a readable folder: pass the path of a folder of PEM files")
	}
	defer func() { _ = d.Close() }()
	// ReadDir(n) stops after n entries, so a folder of millions of files
	// costs no more than one of MaxCAPathEntries+1.
	entries, err := d.ReadDir(MaxCAPathEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return apierr.Invalid("ca_path is not a readable folder: pass the path of a folder of PEM files")
	}
	if len(entries) > MaxCAPathEntries {
		return apierr.Invalid("ca_path holds more than %d entries: pass a folder holding only the CA certificates to trust", MaxCAPathEntries)
	}
	total := 0
	for _, e := range entries {
		pem, err := readCAFile(filepath.Join(dir, e.Name()))
		var why errCAFile
		switch {
		case errors.As(err, &why) && why == errNotRegular:
			continue
		case err != nil:
			// The entry's name stays out: it would list a folder the
			// caller may not otherwise see.
			return apierr.Invalid("a file in ca_path %s: pass a folder holding only the CA certificates to trust", err)
		}
		if total += len(pem); total > MaxCAPathBytes {
			return apierr.Invalid("ca_path holds more than %d MiB of files: pass a folder holding only the CA certificates to trust", MaxCAPathBytes>>20)
		}
		pool.AppendCertsFromPEM(pem)
	}
	return nil
}

// readCAFile reads one regular file of at most MaxCAFileBytes. It checks
// the path before opening it (opening a FIFO would block) and the opened
// file again (the path may have been swapped in between).
func readCAFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, errUnreadable
	}
	if err := checkCAFileInfo(info); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, errUnreadable
	}
	defer func() { _ = f.Close() }()
	if info, err = f.Stat(); err != nil {
		return nil, errUnreadable
	}
	if err := checkCAFileInfo(info); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxCAFileBytes+1))
	switch {
	case err != nil:
		return nil, errUnreadable
	case len(data) > MaxCAFileBytes:
		return nil, errTooLarge
	}
	return data, nil
}

func checkCAFileInfo(info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return errNotRegular
	}
	if info.Size() > MaxCAFileBytes {
		return errTooLarge
	}
	return nil
}
