-- Experiment reports: the whole report as JSON, with what lists and filters need beside it.
CREATE TABLE experiments (
    id         INTEGER PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    body       TEXT NOT NULL
) STRICT;
