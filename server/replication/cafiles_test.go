package replication

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestLoadCAPool: regular PEM files load, through symbolic links too;
// devices, FIFOs, large files and missing files are refused with a message
// that names the problem and not the OS's text.
func TestLoadCAPool(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, testCAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large.pem")
	if err := os.WriteFile(large, make([]byte, MaxCAFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A c_rehash-style folder: a link to the CA, a FIFO and a sub-folder,
	// which are skipped.
	folder := filepath.Join(dir, "certs")
	if err := os.MkdirAll(filepath.Join(folder, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ca, filepath.Join(folder, "abcd1234.0")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(folder, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, ok := range []struct{ file, path string }{{ca, ""}, {"", folder}, {ca, folder}} {
		if _, err := loadCAPool(ok.file, ok.path); err != nil {
			t.Errorf("loadCAPool(%q, %q): %v", ok.file, ok.path, err)
		}
	}
	for _, bad := range []struct{ file, path, want string }{
		{"/dev/zero", "", "ca_file is not a regular file"},
		{fifo, "", "ca_file is not a regular file"},
		{dir, "", "ca_file is not a regular file"},
		{large, "", "ca_file is larger than 1 MiB"},
		{filepath.Join(dir, "missing"), "", "ca_file could not be read"},
		{notPEM, "", "ca_file holds no PEM certificate"},
		{"", ca, "ca_path is not a readable folder"},
		{"", filepath.Join(dir, "missing"), "ca_path is not a readable folder"},
	} {
		_, err := loadCAPool(bad.file, bad.path)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("loadCAPool(%q, %q) = %v, want %q", bad.file, bad.path, err, bad.want)
			continue
		}
		if strings.Contains(err.Error(), "no such file") || strings.Contains(err.Error(), dir) {
			t.Errorf("loadCAPool(%q, %q) reveals OS text or the path: %v", bad.file, bad.path, err)
		}
	}
}
