-- Kits and packs (issue 17): a kit is a SKU made of components with quantities. It has no stock
-- of its own: a document line on a kit moves its components, and what a channel is told of a kit
-- is min over its components of floor(available / quantity) (syncd/ledger/planner.py).
-- source: where the definition came from (config, file, or the channel read at init);
-- derived_by: channels that compute the kit's figure themselves (a Magento bundle), comma-separated,
-- never pushed to for this SKU.
CREATE TABLE kits (
    sku        text PRIMARY KEY,
    source     text NOT NULL,
    derived_by text NOT NULL DEFAULT '',
    updated_us bigint NOT NULL
);

CREATE TABLE kit_components (
    kit       text NOT NULL,
    component text NOT NULL,
    quantity  integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (kit, component)
);
CREATE INDEX kit_components_component ON kit_components (component);

-- The kit a movement was sold (or returned, received) as part of; '' for a SKU moved on its own.
ALTER TABLE movements ADD COLUMN kit text NOT NULL DEFAULT '';
