-- Each insight carries the words around it: the raw turns it came from and the turn before
-- them (mcp_server.memory.l0.context_of). The full-text index covers content and context, so
-- an answer ("yes, last Sunday") is found by the words of the question it answers; the vector
-- and the content returned stay the insight's own.
ALTER TABLE l2_insights ADD COLUMN context text NOT NULL DEFAULT '';

DROP INDEX l2_insights_fts_idx;
ALTER TABLE l2_insights DROP COLUMN fts;
ALTER TABLE l2_insights ADD COLUMN fts tsvector GENERATED ALWAYS AS
    (to_tsvector(text_search_config, content || E'\n' || context)) STORED;
CREATE INDEX l2_insights_fts_idx ON l2_insights USING gin (fts);
