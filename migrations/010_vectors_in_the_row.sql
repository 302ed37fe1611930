-- A vector stays in its row while the row fits a page. PostgreSQL moves a value to the
-- table's TOAST relation as soon as a row passes 2 KB (toast_tuple_target's default), and
-- pgvector's vector type is never compressed first: a 1536-dimension vector (6 KB) always
-- lived in TOAST, and so did a 384-dimension one (1.5 KB) in a row over 2 KB. Each
-- search reads the vectors of its candidates (exact distances, the keyword branch's rows, the
-- diversity step): in TOAST, each read is an index lookup and four chunk reads, ~1,900 of
-- a search's ~7,400 buffer reads at 100k insights x 1536 (bench/hybrid_search.py, issue 10).
-- At the target's maximum a row is toasted only when it does not fit a page (over 8160
-- bytes: 2,000 dimensions and more); text that makes it too big is compressed first, as
-- before. The heap holds what TOAST held: about one insight per page at 1536 dimensions.
ALTER TABLE l2_insights SET (toast_tuple_target = 8160);
ALTER TABLE episode_memory SET (toast_tuple_target = 8160);

-- Rows written before keep their vectors in TOAST until the table is rewritten. CLUSTER
-- rewrites it (VACUUM FULL cannot run in a migration's transaction) and rebuilds its
-- indexes, HNSW included: about 5 minutes at 100k insights x 1536 dimensions on 2 cores,
-- holding the table meanwhile, and disk room for a second copy. Only a table that has
-- anything in TOAST is rewritten (pg_column_toast_chunk_id, which would name the vectors,
-- is PostgreSQL 17 and the deploy supports 15); what fits a page comes back into its row.
DO $$
BEGIN
    IF (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class
        WHERE oid = 'l2_insights'::regclass)
    THEN
        CLUSTER l2_insights USING l2_insights_pkey;
        ALTER TABLE l2_insights SET WITHOUT CLUSTER;  -- the order was only the means
    END IF;
    IF (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class
        WHERE oid = 'episode_memory'::regclass)
    THEN
        CLUSTER episode_memory USING episode_memory_pkey;
        ALTER TABLE episode_memory SET WITHOUT CLUSTER;
    END IF;
END
$$;
