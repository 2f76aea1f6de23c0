-- The apply path looks outbox rows and channel figures up by SKU (all channels at once).
CREATE INDEX outbox_sku ON outbox (sku);
CREATE INDEX channel_levels_sku ON channel_levels (sku);
