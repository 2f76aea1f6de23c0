"""The sync engine: per-channel ingest and push loops, supervision, shutdown. Glue, no rules."""
