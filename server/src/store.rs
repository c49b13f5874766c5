//! Saved topologies in an embedded SQLite database: one file, `blastradius.db`, in the data
//! directory, created on first start; schema changes are the numbered migrations in
//! `server/migrations`, applied in order and recorded in `PRAGMA user_version`.
//!
//! Durability: the database runs in WAL mode with `synchronous = FULL`, so a save is on
//! disk before it is acknowledged; a crash (even `kill -9`) at any moment loses no
//! acknowledged save and leaves the file consistent (SQLite's transactions).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use simulator::topology::Topology;
pub use simulator::wire::SavedTopology;
use simulator::wire::{ExperimentSummary, StoredExperiment};

/// The migrations, in order: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; 3] = [
    include_str!("../migrations/001_topologies.sql"),
    include_str!("../migrations/002_experiments.sql"),
    include_str!("../migrations/003_proxies.sql"),
];

/// The database file's name in the data directory.
pub const DATABASE_FILE: &str = "blastradius.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the database {file} cannot be used: {source}")]
    Open {
        file: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database was written by a newer blastradius (schema {found}, this one knows {known})"
    )]
    TooNew { found: i64, known: i64 },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("a saved topology is unreadable: {0}")]
    Corrupt(String),
}

/// A handle on the database; one connection, used from blocking tasks.
pub struct Store {
    connection: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database in `dir` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let file = dir.join(DATABASE_FILE);
        let connection = Connection::open(&file).map_err(|source| StoreError::Open {
            file: file.clone(),
            source,
        })?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|source| StoreError::Open { file, source })?;
        Store::ready(connection)
    }

    /// A database in memory, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::ready(Connection::open_in_memory()?)
    }

    fn ready(connection: Connection) -> Result<Store, StoreError> {
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let batch = format!(
                "BEGIN; {migration}; PRAGMA user_version = {}; COMMIT;",
                index + 1
            );
            connection.execute_batch(&batch)?;
        }
        Ok(Store {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every saved topology, by name.
    pub fn list(&self) -> Result<Vec<SavedTopology>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT name, services, updated_at FROM topologies ORDER BY name")?;
        let rows = statement.query_map([], |row| {
            Ok(SavedTopology {
                name: row.get(0)?,
                services: row.get(1)?,
                updated_at: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, name: &str) -> Result<Option<Topology>, StoreError> {
        let body: Option<String> = self
            .lock()
            .query_row(
                "SELECT body FROM topologies WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|body| {
            Topology::from_json(&body)
                .map_err(|err| StoreError::Corrupt(format!("'{name}': {err}")))
        })
        .transpose()
    }

    /// Saves `topology` as `name` (its `name` field set to match); true if it is new.
    pub fn put(&self, name: &str, topology: &Topology, now: i64) -> Result<bool, StoreError> {
        let mut topology = topology.clone();
        topology.name = name.to_string();
        let body = serde_json::to_string(&topology).expect("topologies serialise");
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let existed: bool = transaction.query_row(
            "SELECT EXISTS(SELECT 1 FROM topologies WHERE name = ?1)",
            params![name],
            |row| row.get(0),
        )?;
        transaction.execute(
            "INSERT INTO topologies (name, body, services, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET body = ?2, services = ?3, updated_at = ?4",
            params![name, body, topology.services.len() as i64, now],
        )?;
        transaction.commit()?;
        Ok(!existed)
    }

    /// Deletes `name`; false if there was no such topology.
    pub fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .lock()
            .execute("DELETE FROM topologies WHERE name = ?1", params![name])?;
        Ok(deleted > 0)
    }
}

impl Store {
    /// Keeps an experiment's report (replacing one with the same id).
    pub fn put_experiment(&self, experiment: &StoredExperiment) -> Result<(), StoreError> {
        let body = serde_json::to_string(experiment).expect("reports serialise");
        self.lock().execute(
            "INSERT INTO experiments (id, name, verdict, started_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET name = ?2, verdict = ?3, started_at = ?4, body = ?5",
            params![
                experiment.id as i64,
                experiment.report.name,
                experiment.report.verdict.as_str(),
                experiment.started_at,
                body
            ],
        )?;
        Ok(())
    }

    pub fn get_experiment(&self, id: u64) -> Result<Option<StoredExperiment>, StoreError> {
        let body: Option<String> = self
            .lock()
            .query_row(
                "SELECT body FROM experiments WHERE id = ?1",
                params![id as i64],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|body| {
            serde_json::from_str(&body)
                .map_err(|err| StoreError::Corrupt(format!("experiment {id}: {err}")))
        })
        .transpose()
    }

    /// Every stored experiment, newest first.
    pub fn list_experiments(&self) -> Result<Vec<ExperimentSummary>, StoreError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare("SELECT id, body FROM experiments ORDER BY id DESC")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, body) = row?;
            serde_json::from_str::<StoredExperiment>(&body)
                .map(|stored| stored.summary())
                .map_err(|err| StoreError::Corrupt(format!("experiment {id}: {err}")))
        })
        .collect()
    }

    /// Deletes experiment `id`; false if there was none.
    pub fn delete_experiment(&self, id: u64) -> Result<bool, StoreError> {
        let deleted = self
            .lock()
            .execute("DELETE FROM experiments WHERE id = ?1", params![id as i64])?;
        Ok(deleted > 0)
    }

    /// The highest experiment id stored (0 when none): new ids continue from it.
    pub fn last_experiment_id(&self) -> Result<u64, StoreError> {
        let id: i64 =
            self.lock()
                .query_row("SELECT COALESCE(MAX(id), 0) FROM experiments", [], |row| {
                    row.get(0)
                })?;
        Ok(id as u64)
    }
}

impl Store {
    /// Keeps the fault proxies' saved state (a JSON document), replacing the last.
    pub fn put_proxies(&self, body: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO proxies (id, body) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET body = ?1",
            params![body],
        )?;
        Ok(())
    }

    /// The fault proxies' saved state, if any was saved.
    pub fn get_proxies(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT body FROM proxies WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?)
    }
}

/// A file name stem from a topology's name: the characters a saved name allows, others
/// as `-` (`topology` when nothing is left).
pub fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let stem = stem.trim_matches(|c| c == '.' || c == '-').to_string();
    if stem.is_empty() {
        "topology".into()
    } else {
        stem
    }
}

/// Whether `name` can name a saved topology: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simulator::templates;

    #[test]
    fn saves_lists_loads_and_deletes() {
        let store = Store::in_memory().unwrap();
        let shop = templates::demo();
        assert!(store.put("mine", &shop, 100).unwrap());
        assert!(
            !store.put("mine", &shop, 200).unwrap(),
            "second save updates"
        );
        let list = store.list().unwrap();
        assert_eq!(
            list,
            vec![SavedTopology {
                name: "mine".into(),
                services: 13,
                updated_at: 200
            }]
        );
        let loaded = store.get("mine").unwrap().unwrap();
        assert_eq!(loaded.name, "mine");
        assert_eq!(loaded.services, shop.services);
        assert!(store.delete("mine").unwrap());
        assert!(!store.delete("mine").unwrap());
        assert_eq!(store.get("mine").unwrap(), None);
    }

    #[test]
    fn survives_reopening_and_migrates_once() {
        let dir = std::env::temp_dir().join(format!("blastradius-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Store::open(&dir)
            .unwrap()
            .put("kept", &templates::demo(), 1)
            .unwrap();
        let reopened = Store::open(&dir).unwrap();
        assert_eq!(reopened.list().unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_checked() {
        for good in ["shop", "shop-v2", "a.b_c"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
