package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// Listener limits. The timeouts are Vault's listener defaults, so a client
// that works against Vault works here; Vault has no connection cap.
const (
	// DefaultHTTPReadHeaderTimeout bounds reading a request's headers
	// (both listeners).
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	// DefaultHTTPReadTimeout bounds reading a whole API request, headers
	// and body, so a client that trickles a body is cut off.
	DefaultHTTPReadTimeout = 30 * time.Second
	// DefaultHTTPIdleTimeout bounds how long a keep-alive connection may
	// wait for its next request (both listeners).
	DefaultHTTPIdleTimeout = 5 * time.Minute
	// DefaultHTTPWriteTimeout is Vault's: none. A write timeout also limits
	// how long a handler may take, which would fail slow but valid requests.
	DefaultHTTPWriteTimeout = time.Duration(0)
	// DefaultMaxConnections caps the API listener's open connections; when
	// it is reached, new connections wait in the kernel's accept queue until
	// one closes, so a flood of idle or slow clients cannot exhaust file
	// descriptors and memory.
	DefaultMaxConnections = 4096
)

// listenerFlags receives the listener-limit flags (strings, so that flags
// and the config file share one parser and Vault's duration syntax).
type listenerFlags struct {
	readHeaderTimeout, readTimeout, idleTimeout, writeTimeout string
	maxConnections                                            string
}

// listenerFile holds the same settings from the listener block.
type listenerFile struct {
	ReadHeaderTimeout, ReadTimeout, IdleTimeout, WriteTimeout value
	MaxConnections                                            value
}

func defineListenerFlags(fs *flag.FlagSet, lf *listenerFlags) {
	fs.StringVar(&lf.readHeaderTimeout, "http-read-header-timeout", DefaultHTTPReadHeaderTimeout.String(),
		"longest `duration` to read a request's headers, both listeners (listener key http_read_header_timeout; 0 = none)")
	fs.StringVar(&lf.readTimeout, "http-read-timeout", DefaultHTTPReadTimeout.String(),
		"longest `duration` to read an API request with its body (http_read_timeout; 0 = none)")
	fs.StringVar(&lf.idleTimeout, "http-idle-timeout", DefaultHTTPIdleTimeout.String(),
		"longest `duration` a keep-alive connection waits for its next request, both listeners (http_idle_timeout; 0 = none)")
	fs.StringVar(&lf.writeTimeout, "http-write-timeout", DefaultHTTPWriteTimeout.String(),
		"longest `duration` to handle and answer an API request (http_write_timeout; 0 = none, Vault's default)")
	fs.StringVar(&lf.maxConnections, "max-connections", strconv.Itoa(DefaultMaxConnections),
		"most API `connections` open at once; more wait to be accepted (max_connections; 0 = no cap)")
}

// set stores one listener-limit key from the config file. Durations may be
// strings ("30s", or "30" meaning seconds) or bare numbers of seconds, as
// Vault accepts them.
func (lf *listenerFile) set(name, key string, it *ast.ObjectItem) error {
	dst := map[string]*value{
		"http_read_header_timeout": &lf.ReadHeaderTimeout,
		"http_read_timeout":        &lf.ReadTimeout,
		"http_idle_timeout":        &lf.IdleTimeout,
		"http_write_timeout":       &lf.WriteTimeout,
		"max_connections":          &lf.MaxConnections,
	}[key]
	src := fmt.Sprintf("listener \"tcp\" %s (%s)", key, where(name, it.Pos()))
	lit, ok := it.Val.(*ast.LiteralType)
	if !ok || (lit.Token.Type != token.STRING && lit.Token.Type != token.NUMBER) {
		return fmt.Errorf("%s must be a number or a quoted string", src)
	}
	v, err := literal(lit.Token)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	switch v := v.(type) {
	case string:
		*dst = value{v: v, src: src}
	case int64:
		*dst = value{v: strconv.FormatInt(v, 10), src: src}
	default:
		return fmt.Errorf("%s must be a whole number or a quoted string", src)
	}
	return nil
}

// applyListenerLimits merges flags and file (flags given on the command
// line win) into cfg.
func applyListenerLimits(cfg *Config, fl listenerFlags, file listenerFile, explicit map[string]bool) error {
	pick := func(flagName, flagVal string, file value) value {
		if explicit[flagName] || !file.set() {
			return value{v: flagVal, src: "-" + flagName}
		}
		return file
	}
	var errs []error
	durations := []struct {
		dst *time.Duration
		v   value
	}{
		{&cfg.HTTPReadHeaderTimeout, pick("http-read-header-timeout", fl.readHeaderTimeout, file.ReadHeaderTimeout)},
		{&cfg.HTTPReadTimeout, pick("http-read-timeout", fl.readTimeout, file.ReadTimeout)},
		{&cfg.HTTPIdleTimeout, pick("http-idle-timeout", fl.idleTimeout, file.IdleTimeout)},
		{&cfg.HTTPWriteTimeout, pick("http-write-timeout", fl.writeTimeout, file.WriteTimeout)},
	}
	for _, d := range durations {
		var err error
		if *d.dst, err = parseVaultDuration(d.v); err != nil {
			errs = append(errs, err)
		}
	}
	mc := pick("max-connections", fl.maxConnections, file.MaxConnections)
	n, err := strconv.ParseUint(strings.TrimSpace(mc.v), 10, 31)
	if err != nil {
		errs = append(errs, fmt.Errorf("invalid %s %q: want a whole number of connections (0 = no cap)", mc.src, mc.v))
	}
	cfg.MaxConnections = int(n)
	return errors.Join(errs...)
}

// parseVaultDuration reads a duration the way Vault's config does: a bare
// number is seconds, anything else Go's syntax ("90s", "5m", "1h30m").
// Negative durations are refused rather than taken to mean "none".
func parseVaultDuration(v value) (time.Duration, error) {
	s := strings.TrimSpace(v.v)
	if s == "" {
		return 0, fmt.Errorf("%s is empty: want a duration such as 30s (0 = none)", v.src)
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		if secs < 0 || secs > int64(maxConfigDuration/time.Second) {
			return 0, fmt.Errorf("invalid %s %q: want 0 to %d seconds", v.src, v.v, int64(maxConfigDuration/time.Second))
		}
		return time.Duration(secs) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: want a duration such as 30s, 5m or a number of seconds", v.src, v.v)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid %s %q: must not be negative (0 = none)", v.src, v.v)
	}
	return d, nil
}

// maxConfigDuration keeps a number of seconds from overflowing
// time.Duration; no listener timeout needs more than a year.
const maxConfigDuration = 365 * 24 * time.Hour
