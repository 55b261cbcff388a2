package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// secondaryIDPattern is what Vault accepts as a secondary id.
var secondaryIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

const secondaryIDRule = "letters, digits, `-`, `_` or `.`, starting with a letter or digit, at most 128 characters"

// parseVaultDuration parses a duration the way Vault does: a Go duration
// ("30m", "1h30m"), a whole number of seconds ("1800") or days ("7d").
func parseVaultDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, errors.New("negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 32); err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	return d, nil
}

// durationValidator accepts a positive Vault duration.
type durationValidator struct{}

var _ validator.String = durationValidator{}

func (durationValidator) Description(context.Context) string {
	return "value must be a positive duration such as \"30m\", \"24h\", \"7d\" or a number of seconds"
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string {
	return "value must be a positive duration such as `30m`, `24h`, `7d` or a number of seconds"
}

func (durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := parseVaultDuration(req.ConfigValue.ValueString())
	if err == nil && d <= 0 {
		err = errors.New("it must be longer than zero")
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Duration",
			fmt.Sprintf("%q is not a valid duration (%s). Use a duration such as \"30m\", \"24h\", \"7d\", or a whole number of seconds.",
				req.ConfigValue.ValueString(), err))
	}
}

// apiAddrValidator accepts an http(s) URL with a host (an API address).
type apiAddrValidator struct{}

var _ validator.String = apiAddrValidator{}

func (apiAddrValidator) Description(context.Context) string {
	return "value must be an http:// or https:// URL with a host"
}

func (v apiAddrValidator) MarkdownDescription(ctx context.Context) string {
	return "value must be an `http://` or `https://` URL with a host"
}

func (apiAddrValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid API Address",
			fmt.Sprintf("%q is not an http(s) URL with a host. Give the API address, for example \"https://primary.example.com:8200\".", s))
	}
}

// clusterAddrValidator accepts host:port or https://host:port (a cluster
// address, where replication's mutual TLS runs).
type clusterAddrValidator struct{}

var _ validator.String = clusterAddrValidator{}

func (clusterAddrValidator) Description(context.Context) string {
	return "value must be host:port or https://host:port"
}

func (v clusterAddrValidator) MarkdownDescription(ctx context.Context) string {
	return "value must be `host:port` or `https://host:port`"
}

func (clusterAddrValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			hostport = ""
		} else {
			hostport = u.Host
		}
	}
	if i := strings.LastIndex(hostport, ":"); hostport == "" || i <= 0 || i == len(hostport)-1 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Cluster Address",
			fmt.Sprintf("%q is not a cluster address. Give host:port or https://host:port of the cluster port (by default the API port + 1), for example \"https://primary.example.com:8201\".", s))
		return
	}
	if _, err := strconv.Atoi(hostport[strings.LastIndex(hostport, ":")+1:]); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Cluster Address",
			fmt.Sprintf("%q has no numeric port. Give host:port or https://host:port of the cluster port.", s))
	}
}
