# Import the paths filter of a performance secondary by its secondary id
# (the provider must point at the performance primary).
terraform import vaultrepl_performance_paths_filter.eu perf-eu
