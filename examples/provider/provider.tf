# Configure the vaultrepl provider.
#
# Every argument is optional. Each one falls back to the environment variable
# the Vault CLI uses (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, VAULT_CAPATH,
# VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME, VAULT_MAX_RETRIES), so a shell
# already set up for `vault` needs no provider block at all.
provider "vaultrepl" {
  # URL of the vaultrepl server (default: https://127.0.0.1:8200).
  address = "https://vault.example.com:8200"

  # Prefer exporting VAULT_TOKEN over writing a token into configuration;
  # a variable marked sensitive is the next best thing.
  token = var.vaultrepl_token

  # Trust a private CA instead of the system roots.
  ca_cert_file = "/etc/ssl/vaultrepl/ca.pem"

  # Name expected in the server's certificate, when it differs from the host
  # in address (for example when connecting through an IP address).
  # tls_server_name = "vault.example.com"

  # Never disable verification outside throwaway test setups.
  # skip_tls_verify = true

  # Retries of idempotent reads (status, health) after connection errors,
  # 412, 429 and 5xx except 501 (default 2; 0 disables). Calls that change
  # replication state are never retried.
  max_retries = 3
}

variable "vaultrepl_token" {
  description = "Token for the vaultrepl server."
  type        = string
  sensitive   = true
}
