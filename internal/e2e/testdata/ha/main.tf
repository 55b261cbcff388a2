# A DR pair of two HA clusters, as TestAccHADRPair applies it. Each provider
# alias points at one node of its cluster - the test gives it a standby,
# which forwards every replication call to its cluster's active node. Each
# cluster has its own root token until the secondary joins the DR set.

terraform {
  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "primary_address" {
  type = string
}

variable "primary_token" {
  type      = string
  sensitive = true
}

variable "secondary_address" {
  type = string
}

variable "secondary_token" {
  type      = string
  sensitive = true
}

provider "vaultrepl" {
  alias   = "primary"
  address = var.primary_address
  token   = var.primary_token
}

provider "vaultrepl" {
  alias   = "secondary"
  address = var.secondary_address
  token   = var.secondary_token
}

resource "vaultrepl_dr_primary" "this" {
  provider = vaultrepl.primary
}

resource "vaultrepl_dr_secondary_token" "dr1" {
  provider     = vaultrepl.primary
  secondary_id = "dr-1"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_primary.this]
}

resource "vaultrepl_dr_secondary" "dr1" {
  provider = vaultrepl.secondary
  token    = vaultrepl_dr_secondary_token.dr1.token

  timeouts = {
    create = "5m"
  }
}

output "cluster_id" {
  value = vaultrepl_dr_primary.this.cluster_id
}

output "secondary_states" {
  value = { "dr-1" = vaultrepl_dr_secondary.dr1.state }
}
