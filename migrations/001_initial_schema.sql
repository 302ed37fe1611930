-- The memory schema. Embeddings are `vector` of any dimension: each row records its model and
-- dimension, and the application keeps one HNSW index per dimension in use
-- (mcp_server.db.migrator.ensure_vector_indexes), so changing the model is a re-embed.
CREATE EXTENSION IF NOT EXISTS vector;

-- L0: raw dialogue turns, exactly as spoken.
CREATE TABLE l0_raw (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id text NOT NULL CHECK (length(session_id) BETWEEN 1 AND 200),
    speaker text NOT NULL CHECK (length(speaker) BETWEEN 1 AND 100),
    content text NOT NULL CHECK (content <> ''),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX l0_raw_session_created_idx ON l0_raw (session_id, created_at);
CREATE INDEX l0_raw_created_idx ON l0_raw (created_at);

-- L2: compressed insights, found by hybrid search.
CREATE TABLE l2_insights (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    content text NOT NULL CHECK (content <> ''),
    embedding vector NOT NULL,
    embedding_model text NOT NULL,
    embedding_dim integer GENERATED ALWAYS AS (vector_dims(embedding)) STORED,
    text_search_config regconfig NOT NULL DEFAULT 'simple',
    fts tsvector GENERATED ALWAYS AS (to_tsvector(text_search_config, content)) STORED,
    source_ids bigint[] NOT NULL DEFAULT '{}',
    fidelity_score real,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX l2_insights_fts_idx ON l2_insights USING gin (fts);
CREATE INDEX l2_insights_created_idx ON l2_insights (created_at);

-- Working memory: small, importance-weighted, least recently used evicted to stale_memory.
CREATE TABLE working_memory (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    content text NOT NULL CHECK (content <> ''),
    importance real NOT NULL CHECK (importance BETWEEN 0 AND 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_accessed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX working_memory_lru_idx ON working_memory (last_accessed_at);

CREATE TABLE stale_memory (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    original_id bigint NOT NULL,
    content text NOT NULL,
    importance real NOT NULL,
    reason text NOT NULL,
    created_at timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stale_memory_importance_idx ON stale_memory (importance DESC, archived_at DESC);

-- Episode memory (Reflexion): query, reward, verbal reflection.
CREATE TABLE episode_memory (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query text NOT NULL CHECK (query <> ''),
    reward real NOT NULL CHECK (reward BETWEEN -1 AND 1),
    reflection text NOT NULL,
    embedding vector NOT NULL,
    embedding_model text NOT NULL,
    embedding_dim integer GENERATED ALWAYS AS (vector_dims(embedding)) STORED,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Evaluation: dual-judge ground truth, golden test set, drift log.
CREATE TABLE ground_truth (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_id text,
    query text NOT NULL,
    expected_docs bigint[] NOT NULL DEFAULT '{}',
    judge1_scores real[] NOT NULL DEFAULT '{}',
    judge2_scores real[] NOT NULL DEFAULT '{}',
    judge1_model text,
    judge2_model text,
    kappa real,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE golden_test_set (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query text NOT NULL,
    expected_docs bigint[] NOT NULL,
    query_type text NOT NULL DEFAULT 'medium',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_drift_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    date date NOT NULL DEFAULT current_date,
    precision_at_5 real NOT NULL,
    num_queries integer NOT NULL,
    avg_retrieval_time_ms real,
    embedding_model text,
    baseline_p5 real,
    drift_detected boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_drift_log_date_idx ON model_drift_log (date DESC);

-- Cost: every paid API call.
CREATE TABLE api_cost_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    date date NOT NULL DEFAULT current_date,
    api_name text NOT NULL CHECK (api_name <> ''),
    num_calls integer NOT NULL CHECK (num_calls >= 0),
    token_count integer NOT NULL CHECK (token_count >= 0),
    estimated_cost numeric(12, 6) NOT NULL CHECK (estimated_cost >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_cost_log_date_api_idx ON api_cost_log (date DESC, api_name);
