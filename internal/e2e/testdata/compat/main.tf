# What `make test-compat` applies with HashiCorp's terraform-provider-vault
# against a live vaultrepl-server: the resources and data sources people
# manage in a Vault they protect with DR replication.

terraform {
  required_providers {
    vault = {
      source = "hashicorp/vault"
    }
  }
}

variable "address" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
}

provider "vault" {
  address = var.address
  token   = var.token
}

resource "vault_mount" "kvv2" {
  path        = "compat-kv"
  type        = "kv"
  description = "KV version 2, managed by terraform-provider-vault"
  options = {
    version = "2"
  }
}

resource "vault_kv_secret_v2" "app" {
  mount = vault_mount.kvv2.path
  name  = "app/db"
  data_json = jsonencode({
    user     = "app"
    password = "correct-horse"
  })
  custom_metadata {
    max_versions = 5
    data = {
      owner = "platform"
    }
  }
}

resource "vault_generic_secret" "v1" {
  path = "secret/compat/v1"
  data_json = jsonencode({
    api_key = "k-123"
  })
}

resource "vault_policy" "reader" {
  name   = "compat-reader"
  policy = <<-EOT
    path "compat-kv/data/app/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_token" "reader" {
  policies  = [vault_policy.reader.name]
  ttl       = "1h"
  renewable = true
}

# The KV preflight of this data source asks sys/internal/ui/mounts for a
# sys/ path: Vault answers with the sys/ mount (type system).
data "vault_generic_secret" "dr_status" {
  path = "sys/replication/dr/status"
}

data "vault_kv_secret_v2" "app" {
  mount = vault_mount.kvv2.path
  name  = vault_kv_secret_v2.app.name
}

# The provider marks every data map sensitive; the mode is not a secret.
output "dr_mode" {
  value = nonsensitive(data.vault_generic_secret.dr_status.data["mode"])
}

# The data source's version is an optional input, null when unset (the SDK
# keeps a non-computed attribute as configured); the resource's metadata
# carries the version the server answered, and the data source's
# created_time shows it read the secret.
output "app_version" {
  value = vault_kv_secret_v2.app.metadata["version"]
}

output "app_read" {
  value = data.vault_kv_secret_v2.app.created_time != ""
}
