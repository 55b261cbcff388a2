# Import an admitted performance secondary by its secondary id. The token
# cannot be read back, so `token` stays null after the import.
terraform import vaultrepl_performance_secondary_token.eu perf-eu
