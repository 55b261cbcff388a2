# Failover, step 1, with no secret in the state (Terraform 1.11 or later):
# the DR topology. The cluster at var.primary_address becomes the DR
# primary, the one at var.secondary_address its DR secondary "dr-1" (the
# failover target), and, if var.secondary2_address is set, a third cluster
# becomes a second DR secondary "dr-2".
#
# The activation tokens are ephemeral: minted for this run, handed to the
# secondaries through the write-only token_wo, and never written to the plan
# or the state. ../failover/1-topology is the same step for older Terraform
# and OpenTofu.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "primary_address" {
  description = "API address of the cluster that becomes the DR primary."
  type        = string
}

variable "secondary_address" {
  description = "API address of the cluster that becomes DR secondary dr-1, the failover target (its replicated data is wiped)."
  type        = string
}

variable "secondary2_address" {
  description = "API address of an optional second DR secondary, dr-2 (its replicated data is wiped). Null for a DR pair."
  type        = string
  default     = null
}

variable "token" {
  description = "Token with sudo on sys/replication on every cluster (before enabling; afterwards the secondaries honour the primary's tokens)."
  type        = string
  sensitive   = true
  ephemeral   = true
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

provider "vaultrepl" {
  alias   = "secondary2"
  address = var.secondary2_address
  token   = var.token
}

resource "vaultrepl_dr_primary" "this" {
  provider = vaultrepl.primary
}

# Minted in the run that enables the secondary; a token nobody used (the
# one a plan mints) is revoked when the run ends. Once dr-1 is admitted,
# later runs mint nothing (already_admitted).
ephemeral "vaultrepl_dr_secondary_token" "dr1" {
  provider     = vaultrepl.primary
  secondary_id = "dr-1"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_primary.this]
}

# Enabling a secondary WIPES its replicated data; the apply waits until it
# streams the primary's WAL with an equal merkle root.
resource "vaultrepl_dr_secondary" "dr1" {
  provider = vaultrepl.secondary
  token_wo = ephemeral.vaultrepl_dr_secondary_token.dr1.token
  # Raising it replaces the secondary (another wipe) with a new token.
  token_wo_version = 1

  timeouts = {
    create = "10m"
  }

  lifecycle {
    # Replacing this resource would wipe the cluster again and destroying it
    # would disable replication on it: neither belongs in a plan of this
    # topology. After a failover, forget this state (terraform state rm)
    # instead of destroying it.
    prevent_destroy = true
  }
}

ephemeral "vaultrepl_dr_secondary_token" "dr2" {
  count        = var.secondary2_address == null ? 0 : 1
  provider     = vaultrepl.primary
  secondary_id = "dr-2"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_primary.this]
}

resource "vaultrepl_dr_secondary" "dr2" {
  count            = var.secondary2_address == null ? 0 : 1
  provider         = vaultrepl.secondary2
  token_wo         = ephemeral.vaultrepl_dr_secondary_token.dr2[0].token
  token_wo_version = 1

  timeouts = {
    create = "10m"
  }

  lifecycle {
    prevent_destroy = true
  }
}

output "cluster_id" {
  description = "Id of the DR set: every later step needs it (the promotion keeps it)."
  value       = vaultrepl_dr_primary.this.cluster_id
}

output "secondary_states" {
  description = "Replication state of each secondary after the apply (stream-wals: caught up)."
  value = merge(
    { "dr-1" = vaultrepl_dr_secondary.dr1.state },
    { for s in vaultrepl_dr_secondary.dr2 : "dr-2" => s.state },
  )
}
