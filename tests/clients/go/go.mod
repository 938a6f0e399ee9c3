module stackd.local/clienttest

go 1.19

require stackd.local/client v0.0.0

// The generated client, written by `make clients` (never committed).
replace stackd.local/client => ./generated/stackd_client
