-- Parts of lists (a hundred rows an event, 20-150 KB of JSON) made the outbox's values large
-- enough to be compressed (pglz) when written and decompressed when the relay reads them:
-- seconds of CPU in a month of lists, for rows kept only until their retention ends.
-- Stored out of line, uncompressed (this server has no lz4).
ALTER TABLE outbox ALTER COLUMN value SET STORAGE EXTERNAL;
