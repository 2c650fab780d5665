-- Hours per calendar week of an assignment, where the list's sheet `Einsätze` gives them:
-- [["2025-03-03", "38.50"], ...] (Monday, hours).
ALTER TABLE assignments ADD COLUMN weekly_hours jsonb NOT NULL DEFAULT '[]'::jsonb;
