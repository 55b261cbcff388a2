package barrier

import (
	"crypto/cipher"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// KeyringKey is where the keyring lives, in the replicated keyspace so that
// DR secondaries hold it. It is sealed under the root key, not under itself.
const KeyringKey = "core/keyring"

// keyringAAD binds the stored keyring to its place and purpose.
var keyringAAD = []byte("keyring:" + KeyringKey)

// Term is one keyring key.
type Term struct {
	Term        uint32    `json:"term"`
	Key         []byte    `json:"key"`
	InstallTime time.Time `json:"install_time"`
}

// keyring is the decoded keyring: the newest term encrypts, all decrypt.
type keyring struct {
	Terms  []Term `json:"terms"`
	Active uint32 `json:"active"`

	aeads map[uint32]cipher.AEAD
}

func newKeyring(random io.Reader, now time.Time) (*keyring, error) {
	k := &keyring{}
	if err := k.add(random, now); err != nil {
		return nil, err
	}
	return k, nil
}

// add installs a new term and makes it the active one.
func (k *keyring) add(random io.Reader, now time.Time) error {
	key := make([]byte, keyLen)
	if _, err := io.ReadFull(random, key); err != nil {
		return fmt.Errorf("barrier: read new key: %w", err)
	}
	next := k.Active + 1
	k.Terms = append(k.Terms, Term{Term: next, Key: key, InstallTime: now.UTC()})
	k.Active = next
	return k.index()
}

// index builds the ciphers for every term.
func (k *keyring) index() error {
	k.aeads = make(map[uint32]cipher.AEAD, len(k.Terms))
	for _, t := range k.Terms {
		a, err := newAEAD(t.Key)
		if err != nil {
			return fmt.Errorf("keyring term %d: %w", t.Term, err)
		}
		k.aeads[t.Term] = a
	}
	if _, ok := k.aeads[k.Active]; !ok {
		return fmt.Errorf("barrier: keyring's active term %d has no key", k.Active)
	}
	return nil
}

func (k *keyring) active() Term {
	for _, t := range k.Terms {
		if t.Term == k.Active {
			return t
		}
	}
	return Term{}
}

// wipe zeroes the raw keys. The ciphers stay usable (they hold their own
// schedule) so that a request already holding this keyring finishes.
func (k *keyring) wipe() {
	for _, t := range k.Terms {
		clear(t.Key)
	}
}

// sealKeyring encrypts the keyring under the root key (term 0 names the root key).
func sealKeyring(k *keyring, rootKey []byte, random io.Reader) ([]byte, error) {
	doc, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("barrier: encode keyring: %w", err)
	}
	defer clear(doc)
	aead, err := newAEAD(rootKey)
	if err != nil {
		return nil, err
	}
	return seal(aead, 0, random, doc, keyringAAD)
}

// openKeyring decrypts a stored keyring with the root key.
func openKeyring(raw, rootKey []byte) (*keyring, error) {
	if _, ok := termOf(raw); !ok {
		return nil, fmt.Errorf("barrier: stored keyring at %s is malformed", KeyringKey)
	}
	aead, err := newAEAD(rootKey)
	if err != nil {
		return nil, err
	}
	doc, err := open(aead, raw, keyringAAD)
	if err != nil {
		return nil, fmt.Errorf("barrier: the root key does not open the keyring: %w", err)
	}
	defer clear(doc)
	var k keyring
	if err := json.Unmarshal(doc, &k); err != nil {
		return nil, fmt.Errorf("barrier: decode keyring: %w", err)
	}
	if err := k.index(); err != nil {
		return nil, err
	}
	return &k, nil
}
