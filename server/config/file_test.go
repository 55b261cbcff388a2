package config

import (
	"reflect"
	"strings"
	"testing"
)

// fullExample is the config file shape documented for the server.
const fullExample = `listener "tcp" {
  address         = "127.0.0.1:8200"
  cluster_address = "127.0.0.1:8201"
  tls_cert_file   = "/etc/vaultrepl/cert.pem"
  tls_key_file    = "/etc/vaultrepl/key.pem"
  tls_disable     = false
}
storage "sqlite" {
  path = "./data/cluster.db"
  synchronous = "full"
}
api_addr     = "http://127.0.0.1:8200"
cluster_addr = "https://127.0.0.1:8201"
log_level    = "info"
log_format   = "text"
`

func TestParseFileFullExample(t *testing.T) {
	fc, err := parseFile("cluster.hcl", []byte(fullExample))
	if err != nil {
		t.Fatalf("parseFile: %v", err)
	}
	got := map[string]string{
		"address":         fc.ListenAddress.v,
		"cluster_address": fc.ClusterListenAddress.v,
		"tls_cert_file":   fc.TLSCertFile.v,
		"tls_key_file":    fc.TLSKeyFile.v,
		"path":            fc.DBPath.v,
		"synchronous":     fc.Sync.v,
		"api_addr":        fc.APIAddr.v,
		"cluster_addr":    fc.ClusterAddr.v,
		"log_level":       fc.LogLevel.v,
		"log_format":      fc.LogFormat.v,
	}
	want := map[string]string{
		"address":         "127.0.0.1:8200",
		"cluster_address": "127.0.0.1:8201",
		"tls_cert_file":   "/etc/vaultrepl/cert.pem",
		"tls_key_file":    "/etc/vaultrepl/key.pem",
		"path":            "./data/cluster.db",
		"synchronous":     "full",
		"api_addr":        "http://127.0.0.1:8200",
		"cluster_addr":    "https://127.0.0.1:8201",
		"log_level":       "info",
		"log_format":      "text",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values:\n got %v\nwant %v", got, want)
	}
	if fc.TLSDisable || fc.TLSDisableSrc == "" {
		t.Errorf("tls_disable: got %v (src %q), want false and recorded", fc.TLSDisable, fc.TLSDisableSrc)
	}
	// Sources carry file:line so later validation errors can point there.
	if want := "cluster.hcl:9"; !strings.Contains(fc.DBPath.src, want) {
		t.Errorf("path source %q does not mention %s", fc.DBPath.src, want)
	}
	if want := "cluster.hcl:12"; !strings.Contains(fc.APIAddr.src, want) {
		t.Errorf("api_addr source %q does not mention %s", fc.APIAddr.src, want)
	}
}

func TestParseFileForms(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		listen string
		db     string
	}{
		{"empty file", "", "", ""},
		{"comments only", "# nothing\n// here\n", "", ""},
		{"type attribute form", `listener { type = "tcp"  address = "1.2.3.4:1" }`, "1.2.3.4:1", ""},
		{"quoted keys and upper case", `"LISTENER" "TCP" { "Address" = "1.2.3.4:1" }`, "1.2.3.4:1", ""},
		{"json", `{"listener": {"tcp": {"address": "1.2.3.4:1"}}, "storage": {"sqlite": {"path": "/x.db"}}}`, "1.2.3.4:1", "/x.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc, err := parseFile("c.hcl", []byte(tt.src))
			if err != nil {
				t.Fatalf("parseFile: %v", err)
			}
			if fc.ListenAddress.v != tt.listen || fc.DBPath.v != tt.db {
				t.Errorf("got listen %q db %q, want %q %q", fc.ListenAddress.v, fc.DBPath.v, tt.listen, tt.db)
			}
		})
	}
}

func TestParseFileTLSDisable(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{`true`, true}, {`false`, false},
		{`"true"`, true}, {`"false"`, false},
		{`"1"`, true}, {`"0"`, false},
		{`1`, true}, {`0`, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			fc, err := parseFile("c.hcl", []byte(`listener "tcp" { tls_disable = `+tt.raw+` }`))
			if err != nil {
				t.Fatalf("parseFile: %v", err)
			}
			if fc.TLSDisable != tt.want {
				t.Errorf("tls_disable = %s: got %v, want %v", tt.raw, fc.TLSDisable, tt.want)
			}
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"unknown top-level key", "api_addr = \"http://x\"\nui = true\n", []string{`"ui"`, "c.hcl:2", "supported:"}},
		{"unknown top-level block", "seal \"awskms\" {}\n", []string{`"seal"`, "c.hcl:1"}},
		{"several unknown keys", "a = 1\nb = 2\n", []string{`"a" (c.hcl:1)`, `"b" (c.hcl:2)`}},
		{"unknown listener key", "listener \"tcp\" {\n  tls_min_version = \"tls12\"\n}\n", []string{`"tls_min_version"`, "c.hcl:2", "listener"}},
		{"unknown storage key", "storage \"sqlite\" {\n  node_id = \"a\"\n}\n", []string{`"node_id"`, "c.hcl:2"}},
		{"other storage type", `storage "raft" { path = "/x" }`, []string{`"raft"`, "only sqlite and postgresql are supported"}},
		{"other listener type", `listener "unix" { address = "/s" }`, []string{`"unix"`, "only tcp"}},
		{"two listeners", "listener \"tcp\" {}\nlistener \"tcp\" {}\n", []string{"only one listener", "c.hcl:2", "c.hcl:1"}},
		{"two storages", "storage \"sqlite\" {}\nstorage \"sqlite\" {}\n", []string{"only one storage"}},
		{"block without type", `listener { address = "x:1" }`, []string{"no type"}},
		{"too many labels", `listener "tcp" "x" {}`, []string{"too many labels"}},
		{"listener not a block", `listener = "tcp"`, []string{"must be a block"}},
		{"nested block in listener", `listener "tcp" { telemetry "x" { y = 1 } }`, []string{"nested block"}},
		{"unknown nested block in listener", `listener "tcp" { telemetry { y = 1 } }`, []string{`"telemetry"`, "unknown listener key"}},
		{"string expected", `api_addr = 8200`, []string{"api_addr", "quoted string"}},
		{"string expected in block", `storage "sqlite" { path = ["a"] }`, []string{"path", "quoted string"}},
		{"heredoc", "storage \"sqlite\" {\n path = <<EOT\n/x.db\nEOT\n}\n", []string{"path", "quoted string"}},
		{"attribute not block", `log_level "x" {}`, []string{"log_level", "not a block"}},
		{"bad tls_disable", `listener "tcp" { tls_disable = "maybe" }`, []string{"tls_disable", "true or false"}},
		{"tls_disable 2", `listener "tcp" { tls_disable = 2 }`, []string{"tls_disable", "true or false"}},
		{"syntax error", "listener \"tcp\" {\n", []string{"parse config file c.hcl"}},
		// token.Value panics on this escape (hashicorp/hcl#129); must be an error.
		{"bad escape in label", `listener "\400n" {}`, []string{"malformed STRING literal"}},
		{"bad escape in value", `api_addr = "\400n"`, []string{"api_addr", "malformed"}},
		{"duplicate attribute", "log_level = \"info\"\nlog_level = \"debug\"\n", []string{"log_level", "already set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFile("c.hcl", []byte(tt.src))
			if err == nil {
				t.Fatal("parseFile succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// FuzzParseFile checks that arbitrary input never panics and that every
// value reported as set carries a source naming the file.
func FuzzParseFile(f *testing.F) {
	for _, s := range []string{
		fullExample,
		"",
		"{}",
		`listener { type = "tcp" }`,
		`storage "raft" {}`,
		`listener "tcp" { tls_disable = "1" }`,
		`{"listener": {"tcp": {"address": "x"}}}`,
		"a = <<EOT\nx\nEOT\n",
		`api_addr = "\u00zz"`,
		`x = 99999999999999999999999`,
		`t"\400n"{}`,
		`{:{`,
		`listener "tcp" { tls_disable = 0x }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fc, err := parseFile("fuzz.hcl", src)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.hcl") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		for _, v := range []value{
			fc.ListenAddress, fc.ClusterListenAddress, fc.TLSCertFile, fc.TLSKeyFile,
			fc.DBPath, fc.Sync, fc.APIAddr, fc.ClusterAddr, fc.LogLevel, fc.LogFormat,
		} {
			if v.set() && !strings.Contains(v.src, "fuzz.hcl") {
				t.Errorf("source %q does not name the file", v.src)
			}
		}
	})
}
