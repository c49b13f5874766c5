-- Saved topologies: the topology file as JSON, by name.
CREATE TABLE topologies (
    name       TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    services   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
