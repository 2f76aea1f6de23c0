-- Whether a channel lowers its own figure on its own sales (a shop does). A till fed by a stock
-- file does not: the file is its figure until we write the next one.
ALTER TABLE channels ADD COLUMN follows_own_sales INTEGER NOT NULL DEFAULT 1;
