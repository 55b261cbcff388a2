package config

import (
	"strings"
	"testing"
	"time"
)

// TestListenerLimits: Vault's listener keys and their flags, with Vault's
// duration syntax, flag-over-file precedence and the database permission
// override.
func TestListenerLimits(t *testing.T) {
	type limits struct {
		header, read, idle, write time.Duration
		maxConns                  int
		insecureDB                bool
	}
	defaults := limits{10 * time.Second, 30 * time.Second, 5 * time.Minute, 0, 4096, false}
	tests := []struct {
		name string
		file string
		args []string
		want limits
	}{
		{name: "defaults", want: defaults},
		{
			name: "file, Vault syntax",
			file: `listener "tcp" {
  http_read_header_timeout = "5s"
  http_read_timeout        = 45
  http_idle_timeout        = "2m"
  http_write_timeout       = "90"
  max_connections          = 100
}
storage "sqlite" { allow_insecure_permissions = "true" }`,
			want: limits{5 * time.Second, 45 * time.Second, 2 * time.Minute, 90 * time.Second, 100, true},
		},
		{
			name: "flags",
			args: []string{"-http-read-header-timeout", "1s", "-http-read-timeout", "2s", "-http-idle-timeout", "3s",
				"-http-write-timeout", "4s", "-max-connections", "5", "-allow-insecure-db-permissions"},
			want: limits{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5, true},
		},
		{
			name: "flags beat file, zero means none",
			file: `listener "tcp" { http_read_timeout = "9s" max_connections = "7" }
storage "sqlite" { allow_insecure_permissions = true }`,
			args: []string{"-http-read-timeout", "0", "-max-connections", "0", "-allow-insecure-db-permissions=false"},
			want: limits{10 * time.Second, 0, 5 * time.Minute, 0, 0, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-db", "x"}, tt.args...)
			if tt.file != "" {
				args = append([]string{"-config", writeFile(t, tt.file)}, args...)
			}
			c, err := Parse(args, env(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := limits{c.HTTPReadHeaderTimeout, c.HTTPReadTimeout, c.HTTPIdleTimeout, c.HTTPWriteTimeout, c.MaxConnections, c.AllowInsecureDBPermissions}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestListenerLimitErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want []string
	}{
		{name: "negative flag", args: []string{"-http-read-timeout", "-1s"}, want: []string{"-http-read-timeout", "negative"}},
		{name: "garbage flag", args: []string{"-http-idle-timeout", "soon"}, want: []string{"-http-idle-timeout", `"soon"`, "30s"}},
		{name: "overflowing seconds", args: []string{"-http-write-timeout", "99999999999999"}, want: []string{"-http-write-timeout", "seconds"}},
		{name: "negative seconds in file", file: "listener \"tcp\" {\n  http_read_header_timeout = -5\n}", want: []string{"http_read_header_timeout", "cluster.hcl:2"}},
		{name: "bool timeout in file", file: `listener "tcp" { http_read_timeout = true }`, want: []string{"http_read_timeout", "number or a quoted string"}},
		{name: "max connections text", args: []string{"-max-connections", "many"}, want: []string{"-max-connections", "whole number"}},
		{name: "max connections negative in file", file: `listener "tcp" { max_connections = -1 }`, want: []string{"max_connections", "whole number"}},
		{name: "insecure permissions not bool", file: `storage "sqlite" { allow_insecure_permissions = "maybe" }`, want: []string{"allow_insecure_permissions", "true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-db", "x"}, tt.args...)
			if tt.file != "" {
				args = append([]string{"-config", writeFile(t, tt.file)}, args...)
			}
			_, err := Parse(args, env(nil))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
