"""syncd: one authoritative stock ledger for a shop's till and webshops."""

__version__ = "0.1.0"
