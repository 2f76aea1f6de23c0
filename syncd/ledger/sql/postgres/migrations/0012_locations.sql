-- Stock per location (issue 17). `levels` stays the business-wide on hand per SKU; every movement
-- happens at one location and `location_levels` keeps, in the same transaction, the on hand per
-- (location, SKU): Σ location_levels = levels. An existing ledger becomes one location, "main",
-- holding every figure it held: no figure changes.
CREATE TABLE locations (
    name     text PRIMARY KEY,
    kind     text NOT NULL DEFAULT 'store',
    position integer NOT NULL DEFAULT 0
);

CREATE TABLE location_levels (
    location   text NOT NULL,
    sku        text NOT NULL,
    on_hand    bigint NOT NULL,
    updated_us bigint NOT NULL,
    PRIMARY KEY (sku, location)
);
CREATE INDEX location_levels_location ON location_levels (location, sku);
INSERT INTO location_levels (location, sku, on_hand, updated_us)
SELECT 'main', sku, on_hand, updated_us FROM levels;

ALTER TABLE movements ADD COLUMN location text NOT NULL DEFAULT 'main';
-- The location a document names ('' = its channel's), and a transfer's destination.
ALTER TABLE documents ADD COLUMN location text NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN destination text NOT NULL DEFAULT '';
-- Where a line's units went: JSON {location: stock change}; '' = all at the document's location.
ALTER TABLE document_lines ADD COLUMN placed text NOT NULL DEFAULT '';
-- The locations a channel sells from, in order (JSON array); '[]' = all of them.
ALTER TABLE channels ADD COLUMN locations text NOT NULL DEFAULT '[]';
