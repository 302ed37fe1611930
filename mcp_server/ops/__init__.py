"""Operations on a whole database: re-embedding, backups, exports."""
