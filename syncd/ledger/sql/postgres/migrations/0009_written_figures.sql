-- Back-office edits (issue 16): the figures syncd wrote, or tried to write, to a channel for a
-- SKU since its last acknowledged write (a JSON array, that write first). A channel found showing one
-- of them shows our write (a sale it erased, an answer lost), never a merchant's edit; kept in the
-- ledger so a restart forgets nothing.
ALTER TABLE channel_levels ADD COLUMN written text NOT NULL DEFAULT '[]';
