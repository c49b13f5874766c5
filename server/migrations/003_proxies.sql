-- The fault proxies and their toxics (one JSON document, replaced at every change), so a
-- restarted server brings them back as configured.
CREATE TABLE proxies (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
) STRICT
