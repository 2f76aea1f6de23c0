"""The reliability campaign and fuzz inputs: run long by bench (soak, fuzz), short by tests/reliability."""
