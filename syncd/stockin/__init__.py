"""Stock in: deliveries, counts, adjustments, voids, back-office edits, reorder, the day."""
