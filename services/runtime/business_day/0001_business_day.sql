-- The business date, from clock.day-started (ARCHITECTURE: Time).
CREATE TABLE business_day (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    day      date NOT NULL
);
