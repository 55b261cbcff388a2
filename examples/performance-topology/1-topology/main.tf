# Performance topology, step 1 (Terraform 1.11 or later): the tutorial's
# topology minus the DR secondary of the performance secondary, which needs
# a token of that cluster's own (step 2 generates one).
#
#   P     (var.p_address)     performance primary and DR primary
#   P-DR  (var.p_dr_address)  DR secondary "p-dr" of P
#   PS    (var.ps_address)    performance secondary "ps" of P
#
# Enabling P-DR wipes its replicated data; enabling PS wipes its replicated
# data AND its tokens: from then on PS unseals with P's key shares and a
# root token of its own comes from those shares (step 2). Activation
# tokens are ephemeral: never in the plan or the state.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "p_address" {
  description = "API address of P, the performance primary (and DR primary)."
  type        = string
}

variable "p_dr_address" {
  description = "API address of P-DR, the DR secondary of P (its replicated data is wiped)."
  type        = string
}

variable "ps_address" {
  description = "API address of PS, the performance secondary of P (its replicated data and tokens are wiped)."
  type        = string
}

variable "token" {
  description = "Token with sudo on sys/replication on P, P-DR and PS before they are enabled."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "ps_denied_mounts" {
  description = "Mounts of P that PS must not receive (a deny paths filter); empty for none."
  type        = list(string)
  default     = []
}

provider "vaultrepl" {
  alias   = "p"
  address = var.p_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "p_dr"
  address = var.p_dr_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "ps"
  address = var.ps_address
  token   = var.token
}

# P leads both families: one performance replication set and one DR set,
# each with its own id, over the same cluster port.
resource "vaultrepl_performance_primary" "p" {
  provider = vaultrepl.p
}

resource "vaultrepl_dr_primary" "p" {
  provider = vaultrepl.p
}

ephemeral "vaultrepl_dr_secondary_token" "p_dr" {
  provider     = vaultrepl.p
  secondary_id = "p-dr"

  depends_on = [vaultrepl_dr_primary.p]
}

resource "vaultrepl_dr_secondary" "p_dr" {
  provider         = vaultrepl.p_dr
  token_wo         = ephemeral.vaultrepl_dr_secondary_token.p_dr.token
  token_wo_version = 1

  timeouts = {
    create = "10m"
  }

  lifecycle {
    prevent_destroy = true
  }
}

# The filter lives on P, keyed by PS's secondary id; set before PS is
# enabled, PS never receives the denied mounts.
resource "vaultrepl_performance_paths_filter" "ps" {
  count        = length(var.ps_denied_mounts) == 0 ? 0 : 1
  provider     = vaultrepl.p
  secondary_id = "ps"
  mode         = "deny"
  paths        = var.ps_denied_mounts

  depends_on = [vaultrepl_performance_primary.p]
}

ephemeral "vaultrepl_performance_secondary_token" "ps" {
  provider     = vaultrepl.p
  secondary_id = "ps"

  depends_on = [vaultrepl_performance_primary.p]
}

resource "vaultrepl_performance_secondary" "ps" {
  provider         = vaultrepl.ps
  token_wo         = ephemeral.vaultrepl_performance_secondary_token.ps.token
  token_wo_version = 1

  timeouts = {
    create = "10m"
  }

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [vaultrepl_performance_paths_filter.ps]
}

output "performance_cluster_id" {
  description = "Id of the performance replication set (kept by every promotion)."
  value       = vaultrepl_performance_primary.p.cluster_id
}

output "p_dr_cluster_id" {
  description = "Id of P's DR set."
  value       = vaultrepl_dr_primary.p.cluster_id
}

output "secondary_states" {
  description = "Replication state of each secondary after the apply (stream-wals: caught up)."
  value = {
    "p-dr" = vaultrepl_dr_secondary.p_dr.state
    "ps"   = vaultrepl_performance_secondary.ps.state
  }
}
