-- A short embedding call costs about 2e-7 EUR: six decimals rounded it to 0.
ALTER TABLE api_cost_log ALTER COLUMN estimated_cost TYPE numeric(16, 10);
