package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// value is one setting together with where it came from. Keeping the origin
// lets validation errors point at the exact flag or file line to fix, instead
// of making the user guess which of the two sources won the merge.
type value struct {
	v   string
	src string // e.g. "-api-addr" or "api_addr (cluster.hcl:7)"; empty = not set
}

func (v value) set() bool { return v.src != "" }

// fileConfig is what a config file can say. Every field is optional; unset
// fields have an empty src so the merge falls through to the defaults.
type fileConfig struct {
	ListenAddress        value
	ClusterListenAddress value
	TLSCertFile          value
	TLSKeyFile           value
	TLSDisable           bool
	TLSDisableSrc        string // non-empty when tls_disable was written, even as false

	Listener listenerFile

	DBPath                     value
	Sync                       value
	AllowInsecureDBPermissions value // "true" or "false" once set
	// Postgres is set by a storage "postgresql" block.
	Postgres *postgresFile

	APIAddr     value
	ClusterAddr value
	LogLevel    value
	LogFormat   value
}

// Hints for unknown-key errors, listing what the switches below accept.
// Constants rather than slices so there is no package-level mutable state.
const (
	topLevelKeys = "api_addr, cluster_addr, listener, log_format, log_level, storage"
	listenerKeys = "address, cluster_address, http_idle_timeout, http_read_header_timeout, http_read_timeout, http_write_timeout, max_connections, tls_cert_file, tls_disable, tls_key_file"
	storageKeys  = "allow_insecure_permissions, path, synchronous"
	postgresKeys = "connection_url, ha_enabled, lock_renew_interval, lock_ttl, max_parallel, table_prefix"
)

// postgresFile is a storage "postgresql" block, spelled as Vault's
// postgresql backend (connection_url, ha_enabled as a string or bool,
// max_parallel) plus table_prefix and the lock timings.
type postgresFile struct {
	At                string // where the block starts
	ConnectionURL     value  // secret: may hold a password, never echoed
	TablePrefix       value
	HAEnabled         value // "true" or "false" once set
	MaxParallel       value
	LockTTL           value
	LockRenewInterval value
}

// parseFile parses a Vault-shaped HCL1 (or HCL-JSON) config file. name is
// only used in messages. It never panics, even on hostile input, because the
// server must report a bad config file rather than crash on it.
func parseFile(name string, src []byte) (fileConfig, error) {
	var fc fileConfig

	f, err := parseHCL(src)
	if err != nil {
		return fc, fmt.Errorf("parse config file %s: %w", name, err)
	}
	root, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return fc, fmt.Errorf("config file %s: top level must be a list of keys and blocks", name)
	}

	var listenerAt, storageAt string
	var unknown []string
	for _, item := range root.Items {
		if len(item.Keys) == 0 {
			return fc, fmt.Errorf("config file %s: item without a key at %s", name, where(name, item.Pos()))
		}
		key, err := keyName(item.Keys[0])
		if err != nil {
			return fc, fmt.Errorf("config file %s: %w", name, err)
		}
		at := where(name, item.Pos())
		// Vault matches config keys case-insensitively; do the same so Vault
		// configs keep working.
		switch strings.ToLower(key) {
		case "listener":
			if listenerAt != "" {
				return fc, fmt.Errorf("config file %s: only one listener block is supported, found a second one at %s (first at %s)", name, at, listenerAt)
			}
			listenerAt = at
			if err := parseListener(name, item, &fc); err != nil {
				return fc, fmt.Errorf("config file %s: %w", name, err)
			}
		case "storage":
			if storageAt != "" {
				return fc, fmt.Errorf("config file %s: only one storage block is supported, found a second one at %s (first at %s)", name, at, storageAt)
			}
			storageAt = at
			if err := parseStorage(name, item, &fc); err != nil {
				return fc, fmt.Errorf("config file %s: %w", name, err)
			}
		case "api_addr":
			err = stringAttr(name, "api_addr", item, &fc.APIAddr)
		case "cluster_addr":
			err = stringAttr(name, "cluster_addr", item, &fc.ClusterAddr)
		case "log_level":
			err = stringAttr(name, "log_level", item, &fc.LogLevel)
		case "log_format":
			err = stringAttr(name, "log_format", item, &fc.LogFormat)
		default:
			unknown = append(unknown, fmt.Sprintf("%q (%s)", key, at))
		}
		if err != nil {
			return fc, fmt.Errorf("config file %s: %w", name, err)
		}
	}
	if len(unknown) > 0 {
		return fc, fmt.Errorf("config file %s: unknown top-level key(s) %s; supported: %s",
			name, strings.Join(unknown, ", "), topLevelKeys)
	}
	return fc, nil
}

// parseHCL shields callers from panics inside the HCL v1 library, which has
// historically panicked on some malformed input; a config typo must become an
// error message, not a crashed server.
func parseHCL(src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, errors.New("malformed input (HCL parser failed)")
		}
	}()
	return hcl.ParseBytes(src)
}

// literal returns a token's decoded value. token.Value panics on literals it
// cannot decode (bad escapes, out-of-range numbers), hence the recover.
func literal(tok token.Token) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed %s literal", tok.Type)
		}
	}()
	return tok.Value(), nil
}

// keyName returns a key's text; keys are identifiers or quoted strings.
func keyName(k *ast.ObjectKey) (string, error) {
	if k.Token.Type == token.IDENT {
		return k.Token.Text, nil
	}
	v, err := literal(k.Token)
	if err != nil {
		return "", fmt.Errorf("key at %s: %w", k.Pos(), err)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("key at %s is not a name", k.Pos())
	}
	return s, nil
}

// where formats a position as file:line. HCL-JSON input carries no
// positions, in which case only the file name is given.
func where(name string, p token.Pos) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", name, p.Line)
	}
	return name
}

// block checks the shape of a `kind "type" { ... }` block and returns its
// type label and body. Vault also accepts `kind { type = "..." ... }`, so
// that form is supported too; the type attribute is then consumed here.
func block(name, kind string, item *ast.ObjectItem) (typ string, body []*ast.ObjectItem, err error) {
	at := where(name, item.Pos())
	obj, ok := item.Val.(*ast.ObjectType)
	if !ok {
		return "", nil, fmt.Errorf("%s at %s must be a block: %s \"TYPE\" { ... }", kind, at, kind)
	}
	switch len(item.Keys) {
	case 2:
		typ, err = keyName(item.Keys[1])
		if err != nil {
			return "", nil, err
		}
		return strings.ToLower(typ), obj.List.Items, nil
	case 1:
		var tv value
		for _, it := range obj.List.Items {
			if len(it.Keys) == 1 {
				if k, _ := keyName(it.Keys[0]); strings.EqualFold(k, "type") {
					if err := stringAttr(name, kind+" type", it, &tv); err != nil {
						return "", nil, err
					}
					continue
				}
			}
			body = append(body, it)
		}
		if !tv.set() {
			return "", nil, fmt.Errorf("%s at %s has no type: write %s \"TYPE\" { ... }", kind, at, kind)
		}
		return strings.ToLower(tv.v), body, nil
	default:
		return "", nil, fmt.Errorf("%s at %s has too many labels: write %s \"TYPE\" { ... }", kind, at, kind)
	}
}

func parseListener(name string, item *ast.ObjectItem, fc *fileConfig) error {
	typ, body, err := block(name, "listener", item)
	if err != nil {
		return err
	}
	if typ != "tcp" {
		return fmt.Errorf("listener type %q at %s is not supported: only tcp listeners are supported (listener \"tcp\" { ... })", typ, where(name, item.Pos()))
	}
	var unknown []string
	for _, it := range body {
		key, err := attrKey(name, "listener", it)
		if err != nil {
			return err
		}
		switch strings.ToLower(key) {
		case "address":
			err = stringAttr(name, `listener "tcp" address`, it, &fc.ListenAddress)
		case "cluster_address":
			err = stringAttr(name, `listener "tcp" cluster_address`, it, &fc.ClusterListenAddress)
		case "tls_cert_file":
			err = stringAttr(name, `listener "tcp" tls_cert_file`, it, &fc.TLSCertFile)
		case "tls_key_file":
			err = stringAttr(name, `listener "tcp" tls_key_file`, it, &fc.TLSKeyFile)
		case "tls_disable":
			fc.TLSDisableSrc = fmt.Sprintf("listener \"tcp\" tls_disable (%s)", where(name, it.Pos()))
			fc.TLSDisable, err = boolAttr(fc.TLSDisableSrc, it)
		case "http_read_header_timeout", "http_read_timeout", "http_idle_timeout", "http_write_timeout", "max_connections":
			err = fc.Listener.set(name, strings.ToLower(key), it)
		default:
			unknown = append(unknown, fmt.Sprintf("%q (%s)", key, where(name, it.Pos())))
		}
		if err != nil {
			return err
		}
	}
	// Unknown listener keys are errors rather than ignored: silently
	// dropping e.g. a TLS option from a copied Vault config would run the
	// server less securely than its operator believes.
	if len(unknown) > 0 {
		return fmt.Errorf("unknown listener key(s) %s; supported: %s", strings.Join(unknown, ", "), listenerKeys)
	}
	return nil
}

func parseStorage(name string, item *ast.ObjectItem, fc *fileConfig) error {
	typ, body, err := block(name, "storage", item)
	if err != nil {
		return err
	}
	switch typ {
	case "sqlite":
	case "postgresql":
		return parsePostgresBlock(name, item, body, fc)
	default:
		return fmt.Errorf("storage type %q at %s is not supported: only sqlite and postgresql are supported (storage \"sqlite\" { path = \"...\" })", typ, where(name, item.Pos()))
	}
	var unknown []string
	for _, it := range body {
		key, err := attrKey(name, "storage", it)
		if err != nil {
			return err
		}
		switch strings.ToLower(key) {
		case "path":
			err = stringAttr(name, `storage "sqlite" path`, it, &fc.DBPath)
		case "synchronous":
			err = stringAttr(name, `storage "sqlite" synchronous`, it, &fc.Sync)
		case "allow_insecure_permissions":
			src := fmt.Sprintf("storage \"sqlite\" allow_insecure_permissions (%s)", where(name, it.Pos()))
			var b bool
			if b, err = boolAttr(src, it); err == nil {
				fc.AllowInsecureDBPermissions = value{v: strconv.FormatBool(b), src: src}
			}
		default:
			unknown = append(unknown, fmt.Sprintf("%q (%s)", key, where(name, it.Pos())))
		}
		if err != nil {
			return err
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown storage key(s) %s; supported: %s", strings.Join(unknown, ", "), storageKeys)
	}
	return nil
}

func parsePostgresBlock(name string, item *ast.ObjectItem, body []*ast.ObjectItem, fc *fileConfig) error {
	pf := &postgresFile{At: where(name, item.Pos())}
	var unknown []string
	for _, it := range body {
		key, err := attrKey(name, "storage", it)
		if err != nil {
			return err
		}
		label := `storage "postgresql" ` + strings.ToLower(key)
		switch strings.ToLower(key) {
		case "connection_url":
			err = stringAttr(name, label, it, &pf.ConnectionURL)
		case "table_prefix":
			err = stringAttr(name, label, it, &pf.TablePrefix)
		case "ha_enabled":
			src := fmt.Sprintf("%s (%s)", label, where(name, it.Pos()))
			var b bool
			if b, err = boolAttr(src, it); err == nil {
				pf.HAEnabled = value{v: strconv.FormatBool(b), src: src}
			}
		case "max_parallel":
			err = stringAttr(name, label, it, &pf.MaxParallel)
		case "lock_ttl":
			err = stringAttr(name, label, it, &pf.LockTTL)
		case "lock_renew_interval":
			err = stringAttr(name, label, it, &pf.LockRenewInterval)
		default:
			unknown = append(unknown, fmt.Sprintf("%q (%s)", key, where(name, it.Pos())))
		}
		if err != nil {
			return err
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown storage \"postgresql\" key(s) %s; supported: %s", strings.Join(unknown, ", "), postgresKeys)
	}
	fc.Postgres = pf
	return nil
}

// attrKey returns the key of a `key = value` item inside a block, rejecting
// nested blocks, which none of the supported blocks have.
func attrKey(name, kind string, it *ast.ObjectItem) (string, error) {
	if len(it.Keys) != 1 {
		return "", fmt.Errorf("unexpected nested block in %s at %s", kind, where(name, it.Pos()))
	}
	return keyName(it.Keys[0])
}

// stringAttr stores a string attribute into dst, recording its origin.
func stringAttr(name, label string, it *ast.ObjectItem, dst *value) error {
	src := fmt.Sprintf("%s (%s)", label, where(name, it.Pos()))
	if len(it.Keys) != 1 {
		return fmt.Errorf("%s must be an attribute (key = \"value\"), not a block", src)
	}
	// Heredocs are refused: their trailing newline would end up in paths
	// and addresses, failing later with a far less obvious message.
	lit, ok := it.Val.(*ast.LiteralType)
	if !ok || lit.Token.Type != token.STRING {
		return fmt.Errorf("%s must be a quoted string", src)
	}
	v, err := literal(lit.Token)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s must be a quoted string", src)
	}
	*dst = value{v: s, src: src}
	return nil
}

// boolAttr accepts what Vault accepts for flags like tls_disable: a bool, the
// numbers 0/1, or a string strconv.ParseBool understands ("true", "1", ...).
// Other numbers are rejected rather than treated as true, to catch typos.
func boolAttr(src string, it *ast.ObjectItem) (bool, error) {
	lit, ok := it.Val.(*ast.LiteralType)
	if !ok {
		return false, fmt.Errorf("%s must be true or false", src)
	}
	v, err := literal(lit.Token)
	if err != nil {
		return false, fmt.Errorf("%s: %w", src, err)
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case int64:
		switch v {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("%s must be true or false", src)
}
