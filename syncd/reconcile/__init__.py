"""Reconciliation: compare what each channel shows with the ledger, classify, decide fixes (pure)."""
