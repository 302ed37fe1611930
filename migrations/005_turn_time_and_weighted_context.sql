-- When a turn was said (a client may know it: an import, a transcript); NULL means when it
-- was stored (created_at). Its date is indexed with the insights made from it.
ALTER TABLE l0_raw ADD COLUMN occurred_at timestamptz;

-- Full-text search weighs an insight's words by where they come from
-- (mcp_server.memory.index_words): its content and `source_words` (the source turns it does
-- not quote, and the dates they were said) count fully, weight A; `context` (the turns just
-- before and after its sources) counts at search.context_weight, weight B. The vector and
-- the content returned stay the insight's own.
ALTER TABLE l2_insights ADD COLUMN source_words text NOT NULL DEFAULT '';

DROP INDEX l2_insights_fts_idx;
ALTER TABLE l2_insights DROP COLUMN fts;
ALTER TABLE l2_insights ADD COLUMN fts tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector(text_search_config, content || E'\n' || source_words), 'A')
    || setweight(to_tsvector(text_search_config, context), 'B')
) STORED;
CREATE INDEX l2_insights_fts_idx ON l2_insights USING gin (fts);

-- A new turn refreshes the context of the insights made from the turns just before it.
CREATE INDEX l2_insights_source_ids_idx ON l2_insights USING gin (source_ids);
