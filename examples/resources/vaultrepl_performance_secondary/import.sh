# Import a running performance secondary by its secondary id (the provider
# must point at the secondary).
terraform import vaultrepl_performance_secondary.eu perf-eu
