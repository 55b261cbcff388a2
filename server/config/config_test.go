package config

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env returns a getenv backed by a map, so tests never see the real
// environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes a config file into a fresh temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.hcl")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Config
	}{
		{
			name: "db only",
			args: []string{"-db", "./data/cluster.db"},
			want: Config{
				ListenAddress:         "127.0.0.1:8200",
				ClusterListenAddress:  "127.0.0.1:8201",
				APIAddr:               "http://127.0.0.1:8200",
				ClusterAddr:           "https://127.0.0.1:8201",
				DBPath:                "./data/cluster.db",
				Sync:                  "full",
				LogLevel:              slog.LevelInfo,
				LogFormat:             "text",
				HeartbeatInterval:     time.Second,
				WALRetainCount:        100000,
				WALRetainAge:          24 * time.Hour,
				HTTPReadHeaderTimeout: 10 * time.Second,
				HTTPReadTimeout:       30 * time.Second,
				HTTPIdleTimeout:       5 * time.Minute,
				MaxConnections:        4096,
			},
		},
		{
			name: "dev without db",
			args: []string{"-dev"},
			want: Config{
				ListenAddress:         "127.0.0.1:8200",
				ClusterListenAddress:  "127.0.0.1:8201",
				APIAddr:               "http://127.0.0.1:8200",
				ClusterAddr:           "https://127.0.0.1:8201",
				Sync:                  "full",
				LogLevel:              slog.LevelInfo,
				LogFormat:             "text",
				Dev:                   true,
				HeartbeatInterval:     time.Second,
				WALRetainCount:        100000,
				WALRetainAge:          24 * time.Hour,
				HTTPReadHeaderTimeout: 10 * time.Second,
				HTTPReadTimeout:       30 * time.Second,
				HTTPIdleTimeout:       5 * time.Minute,
				MaxConnections:        4096,
			},
		},
		{
			name: "every flag",
			args: []string{
				"-listen-address", "0.0.0.0:9000", "-cluster-listen-address", "0.0.0.0:9100",
				"-api-addr", "https://vault.example:9000", "-cluster-addr", "https://vault.example:9100",
				"-db", "/var/db.sqlite", "-sync", "NORMAL",
				"-tls-cert-file", "c.pem", "-tls-key-file", "k.pem",
				"-log-level", "debug", "-log-format", "json",
				"-dev", "-dev-root-token-id", "root", "-heartbeat-interval", "250ms",
			},
			want: Config{
				ListenAddress:         "0.0.0.0:9000",
				ClusterListenAddress:  "0.0.0.0:9100",
				APIAddr:               "https://vault.example:9000",
				ClusterAddr:           "https://vault.example:9100",
				DBPath:                "/var/db.sqlite",
				Sync:                  "normal",
				TLSCertFile:           "c.pem",
				TLSKeyFile:            "k.pem",
				LogLevel:              slog.LevelDebug,
				LogFormat:             "json",
				Dev:                   true,
				DevRootTokenID:        "root",
				HeartbeatInterval:     250 * time.Millisecond,
				WALRetainCount:        100000,
				WALRetainAge:          24 * time.Hour,
				HTTPReadHeaderTimeout: 10 * time.Second,
				HTTPReadTimeout:       30 * time.Second,
				HTTPIdleTimeout:       5 * time.Minute,
				MaxConnections:        4096,
			},
		},
		{
			name: "vault spellings",
			args: []string{"-db", "x", "-log-level", "trace", "-log-format", "standard", "--sync=full"},
			want: Config{
				ListenAddress:         "127.0.0.1:8200",
				ClusterListenAddress:  "127.0.0.1:8201",
				APIAddr:               "http://127.0.0.1:8200",
				ClusterAddr:           "https://127.0.0.1:8201",
				DBPath:                "x",
				Sync:                  "full",
				LogLevel:              slog.LevelDebug - 4,
				LogFormat:             "text",
				HeartbeatInterval:     time.Second,
				WALRetainCount:        100000,
				WALRetainAge:          24 * time.Hour,
				HTTPReadHeaderTimeout: 10 * time.Second,
				HTTPReadTimeout:       30 * time.Second,
				HTTPIdleTimeout:       5 * time.Minute,
				MaxConnections:        4096,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args, env(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if *got != tt.want {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseDerivedAddresses(t *testing.T) {
	tests := []struct {
		name                      string
		args                      []string
		clusterListen, api, clust string
	}{
		{"default", nil, "127.0.0.1:8201", "http://127.0.0.1:8200", "https://127.0.0.1:8201"},
		{"other port", []string{"-listen-address", "10.0.0.1:9200"}, "10.0.0.1:9201", "http://10.0.0.1:9200", "https://10.0.0.1:9201"},
		{"ipv6", []string{"-listen-address", "[::1]:8200"}, "[::1]:8201", "http://[::1]:8200", "https://[::1]:8201"},
		{"empty host", []string{"-listen-address", ":8200"}, ":8201", "http://:8200", "https://:8201"},
		{"hostname", []string{"-listen-address", "localhost:8200"}, "localhost:8201", "http://localhost:8200", "https://localhost:8201"},
		{"port 65534", []string{"-listen-address", "127.0.0.1:65534"}, "127.0.0.1:65535", "http://127.0.0.1:65534", "https://127.0.0.1:65535"},
		{"ephemeral port", []string{"-listen-address", "127.0.0.1:0"}, "127.0.0.1:0", "http://127.0.0.1:0", "https://127.0.0.1:0"},
		{"tls gives https", []string{"-tls-cert-file", "c", "-tls-key-file", "k"}, "127.0.0.1:8201", "https://127.0.0.1:8200", "https://127.0.0.1:8201"},
		{"explicit cluster listen", []string{"-cluster-listen-address", "127.0.0.1:9999"}, "127.0.0.1:9999", "http://127.0.0.1:8200", "https://127.0.0.1:9999"},
		{"port 65535 with explicit cluster", []string{"-listen-address", "127.0.0.1:65535", "-cluster-listen-address", "127.0.0.1:1"}, "127.0.0.1:1", "http://127.0.0.1:65535", "https://127.0.0.1:1"},
		{"empty api-addr means derive", []string{"-api-addr", ""}, "127.0.0.1:8201", "http://127.0.0.1:8200", "https://127.0.0.1:8201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(append([]string{"-dev"}, tt.args...), env(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.ClusterListenAddress != tt.clusterListen || got.APIAddr != tt.api || got.ClusterAddr != tt.clust {
				t.Errorf("got (%q, %q, %q), want (%q, %q, %q)",
					got.ClusterListenAddress, got.APIAddr, got.ClusterAddr, tt.clusterListen, tt.api, tt.clust)
			}
		})
	}
}

func TestParseFileAndFlags(t *testing.T) {
	full := writeFile(t, fullExample)
	tests := []struct {
		name  string
		file  string
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "file alone",
			file: full,
			check: func(t *testing.T, c *Config) {
				want := Config{
					ListenAddress:         "127.0.0.1:8200",
					ClusterListenAddress:  "127.0.0.1:8201",
					APIAddr:               "http://127.0.0.1:8200",
					ClusterAddr:           "https://127.0.0.1:8201",
					DBPath:                "./data/cluster.db",
					Sync:                  "full",
					TLSCertFile:           "/etc/vaultrepl/cert.pem",
					TLSKeyFile:            "/etc/vaultrepl/key.pem",
					LogLevel:              slog.LevelInfo,
					LogFormat:             "text",
					HeartbeatInterval:     time.Second,
					WALRetainCount:        100000,
					WALRetainAge:          24 * time.Hour,
					HTTPReadHeaderTimeout: 10 * time.Second,
					HTTPReadTimeout:       30 * time.Second,
					HTTPIdleTimeout:       5 * time.Minute,
					MaxConnections:        4096,
				}
				if *c != want {
					t.Errorf("got  %+v\nwant %+v", *c, want)
				}
			},
		},
		{
			name: "flags override file",
			file: full,
			args: []string{"-listen-address", "127.0.0.1:7000", "-db", "other.db", "-log-level", "error", "-sync", "normal", "-api-addr", "http://lb:7000"},
			check: func(t *testing.T, c *Config) {
				if c.ListenAddress != "127.0.0.1:7000" || c.DBPath != "other.db" || c.LogLevel != slog.LevelError ||
					c.Sync != "normal" || c.APIAddr != "http://lb:7000" {
					t.Errorf("flags did not win: %+v", *c)
				}
				// Not overridden: still from the file.
				if c.ClusterListenAddress != "127.0.0.1:8201" || c.TLSCertFile != "/etc/vaultrepl/cert.pem" || c.LogFormat != "text" {
					t.Errorf("file values lost: %+v", *c)
				}
			},
		},
		{
			name: "flags set to their default still override file",
			file: writeFile(t, `log_level = "debug"`+"\n"+`storage "sqlite" { synchronous = "normal" }`),
			args: []string{"-db", "x", "-log-level", "info", "-sync", "full"},
			check: func(t *testing.T, c *Config) {
				if c.LogLevel != slog.LevelInfo || c.Sync != "full" {
					t.Errorf("explicit default flag lost to file: level %v sync %q", c.LogLevel, c.Sync)
				}
			},
		},
		{
			name: "empty flag turns off TLS from file",
			file: full,
			args: []string{"-tls-cert-file", "", "-tls-key-file", ""},
			check: func(t *testing.T, c *Config) {
				if c.TLSCertFile != "" || c.TLSKeyFile != "" {
					t.Errorf("TLS files still set: %+v", *c)
				}
			},
		},
		{
			name: "file listen address moves derived addresses",
			file: writeFile(t, `listener "tcp" { address = "127.0.0.1:5000" }`+"\n"+`storage "sqlite" { path = "f.db" }`),
			check: func(t *testing.T, c *Config) {
				if c.ClusterListenAddress != "127.0.0.1:5001" || c.APIAddr != "http://127.0.0.1:5000" || c.ClusterAddr != "https://127.0.0.1:5001" {
					t.Errorf("derived from file: %+v", *c)
				}
			},
		},
		{
			name: "file TLS makes derived api-addr https",
			file: writeFile(t, `listener "tcp" { tls_cert_file = "c" tls_key_file = "k" }`),
			args: []string{"-dev"},
			check: func(t *testing.T, c *Config) {
				if c.APIAddr != "https://127.0.0.1:8200" {
					t.Errorf("APIAddr = %q", c.APIAddr)
				}
			},
		},
		{
			name: "tls_disable without files",
			file: writeFile(t, `listener "tcp" { tls_disable = "true" }`),
			args: []string{"-dev"},
			check: func(t *testing.T, c *Config) {
				if c.APIAddr != "http://127.0.0.1:8200" {
					t.Errorf("APIAddr = %q", c.APIAddr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-config", tt.file}, tt.args...)
			c, err := Parse(args, env(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // config file content; empty = no -config
		args    []string
		env     map[string]string
		want    []string // substrings of the error
		notWant []string // must not appear (secrets)
	}{
		{name: "db missing", args: nil, want: []string{"-db is required (path of the SQLite file), or use -dev"}},
		{name: "db empty in file", file: `storage "sqlite" { path = "" }`, want: []string{"-db is required"}},
		{name: "listen no port", args: []string{"-dev", "-listen-address", "127.0.0.1"}, want: []string{"-listen-address", `"127.0.0.1"`, "host:port"}},
		{name: "listen named port", args: []string{"-dev", "-listen-address", "127.0.0.1:http"}, want: []string{"-listen-address", "0 to 65535"}},
		{name: "listen port too big", args: []string{"-dev", "-listen-address", "127.0.0.1:70000"}, want: []string{"0 to 65535"}},
		{name: "listen empty", args: []string{"-dev", "-listen-address", ""}, want: []string{"-listen-address is empty"}},
		{name: "listen from file", file: "listener \"tcp\" {\n  address = \"nope\"\n}\n", args: []string{"-dev"}, want: []string{`listener "tcp" address`, "cluster.hcl:2", `"nope"`}},
		{name: "port 65535", args: []string{"-dev", "-listen-address", "127.0.0.1:65535"}, want: []string{"port 65535", "set -cluster-listen-address"}},
		{name: "bad cluster listen", args: []string{"-dev", "-cluster-listen-address", "x"}, want: []string{"-cluster-listen-address", "host:port"}},
		{name: "cluster listen equals listen", args: []string{"-dev", "-cluster-listen-address", "127.0.0.1:8200"}, want: []string{"different ports"}},
		{name: "cert without key", args: []string{"-dev", "-tls-cert-file", "c.pem"}, want: []string{"-tls-cert-file is set", "-tls-key-file"}},
		{name: "key without cert", args: []string{"-dev", "-tls-key-file", "k.pem"}, want: []string{"-tls-key-file is set", "-tls-cert-file"}},
		{name: "key without cert in file", file: `listener "tcp" { tls_key_file = "k" }`, args: []string{"-dev"}, want: []string{"tls_key_file", "-tls-cert-file"}},
		{name: "tls_disable conflicts", file: `listener "tcp" { tls_disable = true  tls_cert_file = "c"  tls_key_file = "k" }`, args: []string{"-dev"}, want: []string{"tls_disable", "conflicts"}},
		{name: "tls_disable conflicts with flags", file: `listener "tcp" { tls_disable = 1 }`, args: []string{"-dev", "-tls-cert-file", "c", "-tls-key-file", "k"}, want: []string{"tls_disable", "conflicts", "-tls-cert-file"}},
		{name: "log level", args: []string{"-dev", "-log-level", "loud"}, want: []string{"-log-level", `"loud"`, "debug, info"}},
		{name: "log level from file", file: `log_level = "loud"`, args: []string{"-dev"}, want: []string{"log_level (", "cluster.hcl:1"}},
		{name: "log format", args: []string{"-dev", "-log-format", "xml"}, want: []string{"-log-format", `"xml"`, "text or json"}},
		{name: "sync", args: []string{"-dev", "-sync", "off"}, want: []string{"-sync", `"off"`, "full or normal"}},
		{name: "sync from file", file: `storage "sqlite" { synchronous = "extra" }`, args: []string{"-dev"}, want: []string{"synchronous", "full or normal"}},
		{name: "api-addr without scheme", args: []string{"-dev", "-api-addr", "127.0.0.1:8200"}, want: []string{"-api-addr", "http or https"}},
		{name: "api-addr other scheme", args: []string{"-dev", "-api-addr", "ftp://x:1"}, want: []string{"-api-addr", "http or https"}},
		{name: "api-addr no host", args: []string{"-dev", "-api-addr", "http://"}, want: []string{"-api-addr", "host"}},
		{name: "api-addr bad url", args: []string{"-dev", "-api-addr", "http://a b"}, want: []string{"-api-addr", "URL"}},
		{name: "api-addr user info", args: []string{"-dev", "-api-addr", "http://u:hunter2@x:1"}, want: []string{"-api-addr", "user info"}, notWant: []string{"hunter2"}},
		{name: "cluster-addr", args: []string{"-dev", "-cluster-addr", "tcp://x:1"}, want: []string{"-cluster-addr", "http or https"}},
		{name: "heartbeat zero", args: []string{"-dev", "-heartbeat-interval", "0s"}, want: []string{"-heartbeat-interval must be positive"}},
		{name: "heartbeat unparsable", args: []string{"-dev", "-heartbeat-interval", "soon"}, want: []string{"heartbeat-interval", "-h for usage"}},
		{name: "unknown flag", args: []string{"-dev", "-nope"}, want: []string{"-nope"}},
		{name: "stray argument not echoed", args: []string{"-dev", "s.secret"}, want: []string{"1 unexpected argument"}, notWant: []string{"s.secret"}},
		{name: "config twice", args: []string{"-config", "a", "-config", "b"}, want: []string{"more than once"}},
		{name: "config missing", args: []string{"-config", filepath.Join(os.TempDir(), "does-not-exist-vaultrepl.hcl")}, want: []string{"read -config file", "does-not-exist"}},
		{name: "config unknown key", file: "api_addr = \"http://x:1\"\nfoo = 1\n", want: []string{`"foo"`, "cluster.hcl:2"}},
		{name: "config other storage", file: `storage "raft" {}`, want: []string{"only sqlite and postgresql are supported"}},
		{name: "kv v2 without dev", args: []string{"-db", "x", "-dev-kv-v2"}, want: []string{"-dev-kv-v2 only applies with -dev", "vault secrets enable -path=secret -version=2 kv"}},
		{name: "root token without dev", args: []string{"-db", "x", "-dev-root-token-id", "s.topsecret"}, want: []string{"-dev-root-token-id only applies with -dev"}, notWant: []string{"topsecret"}},
		{
			name:    "several problems at once",
			args:    []string{"-log-level", "loud", "-sync", "off", "-dev-root-token-id", "s.topsecret"},
			want:    []string{"-db is required", "-log-level", "-sync", "-dev-root-token-id"},
			notWant: []string{"topsecret"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"-config", writeFile(t, tt.file)}, args...)
			}
			c, err := Parse(args, env(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error", *c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(err.Error(), nw) {
					t.Errorf("error %q leaks %q", err, nw)
				}
			}
		})
	}
}

func TestParseDevRootTokenEnv(t *testing.T) {
	tokenEnv := map[string]string{"VAULT_DEV_ROOT_TOKEN_ID": "from-env"}
	tests := []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"env used in dev", []string{"-dev"}, env(tokenEnv), "from-env"},
		{"flag beats env", []string{"-dev", "-dev-root-token-id", "from-flag"}, env(tokenEnv), "from-flag"},
		{"explicit empty flag beats env", []string{"-dev", "-dev-root-token-id="}, env(tokenEnv), ""},
		{"env ignored without dev", []string{"-db", "x"}, env(tokenEnv), ""},
		{"no env", []string{"-dev"}, env(nil), ""},
		{"nil getenv", []string{"-dev"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, tt.getenv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.DevRootTokenID != tt.want {
				t.Errorf("DevRootTokenID = %q, want %q", c.DevRootTokenID, tt.want)
			}
		})
	}
}

func TestParseHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			_, err := Parse([]string{"-db", "x", arg}, env(nil))
			if err != flag.ErrHelp || !errors.Is(err, flag.ErrHelp) {
				t.Errorf("Parse(%s) error = %v, want flag.ErrHelp", arg, err)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	u := Usage()
	for _, name := range []string{
		"-listen-address", "-cluster-listen-address", "-api-addr", "-cluster-addr", "-config",
		"-db", "-sync", "-log-level", "-log-format", "-tls-cert-file", "-tls-key-file",
		"-dev", "-dev-root-token-id", "-heartbeat-interval", "VAULT_DEV_ROOT_TOKEN_ID",
	} {
		if !strings.Contains(u, name) {
			t.Errorf("Usage() does not mention %s", name)
		}
	}
}
