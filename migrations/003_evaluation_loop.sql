-- The evaluation loop: evaluations (with their Reflexion episode), judge phases, human
-- corrections of ground truth, and the full drift metrics.

-- One row per evaluated answer: quality over time, and the lesson it led to.
CREATE TABLE evaluation_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query text NOT NULL CHECK (query <> ''),
    answer text NOT NULL CHECK (answer <> ''),
    memory_ids bigint[] NOT NULL DEFAULT '{}',
    reward real NOT NULL CHECK (reward BETWEEN -1 AND 1),
    reason text NOT NULL,
    model text NOT NULL,
    episode_id bigint REFERENCES episode_memory (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evaluation_log_created_idx ON evaluation_log (created_at);

-- Ground truth: what was judged (ids or texts), in which phase, and a human's correction.
-- A missing judge score is NULL inside judge1_scores/judge2_scores, never 0.
ALTER TABLE ground_truth
    ADD COLUMN docs jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN raw_agreement real,
    ADD COLUMN phase text NOT NULL DEFAULT 'dual' CHECK (phase IN ('dual', 'single')),
    ADD COLUMN human_scores real[],
    ADD COLUMN corrected_at timestamptz;
CREATE INDEX ground_truth_created_idx ON ground_truth (created_at);

-- The staged dual judge's history: the phase in force is the latest row's.
CREATE TABLE judge_phase_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phase text NOT NULL CHECK (phase IN ('dual', 'single')),
    event text NOT NULL CHECK (event IN ('transition', 'revert')),
    kappa real,
    pairs integer NOT NULL DEFAULT 0,
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX judge_phase_events_created_idx ON judge_phase_events (created_at DESC);

-- The golden set: one entry per query, of a known length class.
ALTER TABLE golden_test_set
    ADD CONSTRAINT golden_test_set_query_type_check
        CHECK (query_type IN ('short', 'medium', 'long')),
    ADD CONSTRAINT golden_test_set_query_key UNIQUE (query);

ALTER TABLE model_drift_log
    ADD COLUMN recall_at_5 real,
    ADD COLUMN mrr real;
