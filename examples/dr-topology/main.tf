# A DR pair: the cluster at var.primary_address becomes the DR primary and
# the one at var.secondary_address its DR secondary.
#
# Terraform runs one provider process per alias, so each resource below talks
# to exactly the cluster its alias names.

terraform {
  required_providers {
    vaultrepl = {
      source = "registry.terraform.io/vaultrepl/vaultrepl"
    }
  }
}

variable "primary_address" {
  description = "API address of the cluster that becomes the DR primary."
  type        = string
}

variable "secondary_address" {
  description = "API address of the cluster that becomes its DR secondary (its replicated data is wiped)."
  type        = string
}

variable "token" {
  description = "Token with sudo on sys/replication on both clusters (before enabling; afterwards the secondary honours the primary's tokens)."
  type        = string
  sensitive   = true
}

provider "vaultrepl" {
  alias   = "primary"
  address = var.primary_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "secondary"
  address = var.secondary_address
  token   = var.token
}

resource "vaultrepl_dr_primary" "this" {
  provider = vaultrepl.primary
}

# The activation token for secondary "dr-1". It is minted once: a consumed
# token still exists as long as the primary lists "dr-1" among its secondaries.
resource "vaultrepl_dr_secondary_token" "dr1" {
  provider     = vaultrepl.primary
  secondary_id = "dr-1"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_primary.this]
}

# Enabling a secondary WIPES its replicated data; the apply waits until it
# streams the primary's WAL with an equal merkle root.
resource "vaultrepl_dr_secondary" "dr1" {
  provider = vaultrepl.secondary
  token    = vaultrepl_dr_secondary_token.dr1.token

  timeouts = {
    create = "5m"
  }
}

output "cluster_id" {
  description = "Id of the DR set."
  value       = vaultrepl_dr_primary.this.cluster_id
}

output "secondary_state" {
  description = "Replication state of the secondary after the apply."
  value       = vaultrepl_dr_secondary.dr1.state
}
