#!/usr/bin/env bash
# Create (if needed) and migrate the development database: cognitive_memory_dev.
# Uses DATABASE_URL from config/.env.development, or the embedded cluster when it is unset.
set -euo pipefail
exec cognitive-memory db setup --env development "$@"
