"""CSV till connector: exactly-once ingest of till exports, complete stock files back."""
