//! Writing the directory: each write and its announcement on the change
//! channel go in one `MULTI`/`EXEC`, so no follower sees one without the
//! other.

use redis::aio::ConnectionManager;
use time::OffsetDateTime;

use super::keyspace::{Change, Keyspace, REVOCATIONS};
use super::users::UserSnapshot;
use super::{COMMAND_TIMEOUT, SCAN_BATCH, client, unavailable};
use crate::handler::DirectoryError;

/// Writes directory records to Redis. Cheap to clone (one reconnecting
/// connection); a write while Redis is down fails with a
/// [`DirectoryError`] saying so.
#[derive(Clone)]
pub struct Writer {
    connection: ConnectionManager,
    keyspace: Keyspace,
}

impl Writer {
    /// Connects to `url`: one clear error when it is not a Redis URL or
    /// Redis cannot be reached.
    pub async fn connect(url: &str, keyspace: Keyspace) -> Result<Self, DirectoryError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client(url)?, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            connection,
            keyspace,
        })
    }

    /// The keyspace written to.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// The connection, for the [`SessionStore`](super::SessionStore).
    pub(super) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Record `name` of `table`, if there is one.
    pub async fn get(&self, table: &str, name: &str) -> Result<Option<Vec<u8>>, DirectoryError> {
        redis::cmd("HGET")
            .arg(self.keyspace.table(table))
            .arg(name)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }

    /// Every record of `table`, in batches.
    pub async fn all(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, DirectoryError> {
        let mut cursor = 0u64;
        let mut all = Vec::new();
        loop {
            let (next, batch): (u64, Vec<(String, Vec<u8>)>) = redis::cmd("HSCAN")
                .arg(self.keyspace.table(table))
                .arg(cursor)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut self.connection.clone())
                .await
                .map_err(unavailable)?;
            all.extend(batch);
            if next == 0 {
                return Ok(all);
            }
            cursor = next;
        }
    }

    /// Sets record `name` of `table` to `value` and announces it.
    pub async fn put(&self, table: &str, name: &str, value: &[u8]) -> Result<(), DirectoryError> {
        redis::pipe()
            .atomic()
            .hset(self.keyspace.table(table), name, value)
            .ignore()
            .publish(self.keyspace.changes(), change(table, name))
            .ignore()
            .exec_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }

    /// Sets record `name` of `table` only if there is none; false when
    /// there was one (nothing changed).
    pub async fn put_new(
        &self,
        table: &str,
        name: &str,
        value: &[u8],
    ) -> Result<bool, DirectoryError> {
        let mut connection = self.connection.clone();
        let set: bool = redis::cmd("HSETNX")
            .arg(self.keyspace.table(table))
            .arg(name)
            .arg(value)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if set {
            self.announce(&change(table, name)).await?;
        }
        Ok(set)
    }

    /// Removes record `name` of `table` and announces it; false when there
    /// was none.
    pub async fn delete(&self, table: &str, name: &str) -> Result<bool, DirectoryError> {
        let (removed,): (u32,) = redis::pipe()
            .atomic()
            .hdel(self.keyspace.table(table), name)
            .publish(self.keyspace.changes(), change(table, name))
            .ignore()
            .query_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    /// Ends `name`'s sessions begun before `before`, on every instance.
    pub async fn revoke_sessions(
        &self,
        name: &str,
        before: OffsetDateTime,
    ) -> Result<(), DirectoryError> {
        let value = UserSnapshot::revocation_value(before);
        self.put(REVOCATIONS, name, value.as_bytes()).await
    }

    /// Writes many records of `table` (an import) in pipelines of
    /// `SCAN_BATCH`, then asks every follower to reload once.
    pub async fn put_many(
        &self,
        table: &str,
        records: &[(String, Vec<u8>)],
    ) -> Result<(), DirectoryError> {
        let hash = self.keyspace.table(table);
        for batch in records.chunks(SCAN_BATCH) {
            let mut pipe = redis::pipe();
            for (name, value) in batch {
                pipe.hset(&hash, name, value).ignore();
            }
            pipe.exec_async(&mut self.connection.clone())
                .await
                .map_err(unavailable)?;
        }
        self.announce(&Change::Reload.message()).await
    }

    async fn announce(&self, message: &str) -> Result<(), DirectoryError> {
        redis::cmd("PUBLISH")
            .arg(self.keyspace.changes())
            .arg(message)
            .exec_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }
}

fn change(table: &str, name: &str) -> String {
    Change::Record { table, name }.message()
}
