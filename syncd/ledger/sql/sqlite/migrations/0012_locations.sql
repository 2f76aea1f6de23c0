-- Stock per location (issue 17). `levels` stays the business-wide on hand per SKU; every movement
-- happens at one location and `location_levels` keeps, in the same transaction, the on hand per
-- (location, SKU): Σ location_levels = levels. An existing ledger becomes one location, "main",
-- holding every figure it held: no figure changes.
CREATE TABLE locations (
    name     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL DEFAULT 'store',
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE location_levels (
    location   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    on_hand    INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (sku, location)
);
CREATE INDEX location_levels_location ON location_levels (location, sku);
INSERT INTO location_levels (location, sku, on_hand, updated_us)
SELECT 'main', sku, on_hand, updated_us FROM levels;

ALTER TABLE movements ADD COLUMN location TEXT NOT NULL DEFAULT 'main';
-- The location a document names ('' = its channel's), and a transfer's destination.
ALTER TABLE documents ADD COLUMN location TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN destination TEXT NOT NULL DEFAULT '';
-- Where a line's units went: JSON {location: stock change}; '' = all at the document's location.
ALTER TABLE document_lines ADD COLUMN placed TEXT NOT NULL DEFAULT '';
-- The locations a channel sells from, in order (JSON array); '[]' = all of them.
ALTER TABLE channels ADD COLUMN locations TEXT NOT NULL DEFAULT '[]';
