-- A rejection is recorded once per channel, source, row and reason: look them up fast.
CREATE INDEX rejections_source ON rejections (channel, source);
