-- One digest of a database's schema: tables, columns, indexes, constraints, triggers, functions
-- and extensions of the public schema. Two databases migrated alike give the same digest.
SELECT md5(coalesce(string_agg(item, E'\n' ORDER BY item), '')) FROM (
    SELECT format('column %s.%s %s %s %s %s', c.table_name, c.column_name, c.data_type,
                  c.udt_name, c.is_nullable, coalesce(c.column_default, c.generation_expression))
    FROM information_schema.columns c
    WHERE c.table_schema = 'public'
  UNION ALL
    SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
    SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
    SELECT format('function %s(%s)', p.proname, pg_get_function_identity_arguments(p.oid))
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
    SELECT format('extension %s %s', extname, extversion) FROM pg_extension
  UNION ALL
    SELECT format('migration %s', version) FROM schema_migrations
) AS schema(item);
