//! Following the directory in Redis: a full load in batches, then the
//! change channel, pinged so a silent death is noticed; on any break, the
//! last snapshot keeps serving, and the reconnect loads everything again (a
//! change made meanwhile is not missed).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use time::OffsetDateTime;

use super::keyspace::{Change, Keyspace};
use super::{COMMAND_TIMEOUT, SCAN_BATCH, client, unavailable};
use crate::handler::DirectoryError;

/// A full load: each table's records, as stored (name, bytes).
pub type Records = HashMap<&'static str, Vec<(String, Vec<u8>)>>;

/// A record a [`Table`] would not trust, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refused {
    /// Its table.
    pub table: &'static str,
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl Refused {
    /// `name` of `table`, refused for `reason`.
    pub fn new(table: &'static str, name: String, reason: String) -> Self {
        Self {
            table,
            name,
            reason,
        }
    }
}

/// What the [`Follower`] keeps current: one or more Redis tables held in
/// memory. A record that does not check out is refused (logged) and never
/// trusted: the table treats it as absent, or fails closed.
pub trait Table: Send + Sync + 'static {
    /// The tables (hashes, by name under the keyspace) this one holds.
    fn tables(&self) -> &'static [&'static str];
    /// Replaces everything with `records`, one entry per table of
    /// [`tables`](Self::tables); returns the records it refused.
    fn load(&self, records: Records) -> Vec<Refused>;
    /// Record `name` of `table` is now `value` (`None`: removed). An
    /// `Err` says why the value was refused.
    fn update(&self, table: &str, name: &str, value: Option<&[u8]>) -> Result<(), String>;
}

/// Whether the snapshot follows Redis now, or since when it does not.
/// Cheap to clone; every clone sees the same state.
#[derive(Clone, Debug, Default)]
pub struct Freshness(Arc<RwLock<Option<Stale>>>);

/// The snapshot stopped following Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stale {
    /// The first failure.
    pub since: OffsetDateTime,
    /// The latest error.
    pub error: String,
}

impl Freshness {
    /// `None` while the snapshot follows Redis.
    pub fn stale(&self) -> Option<Stale> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a failure; true for the first of an outage (log it then).
    fn failed(&self, error: String) -> bool {
        let mut stale = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match stale.as_mut() {
            Some(stale) => {
                stale.error = error;
                false
            }
            None => {
                *stale = Some(Stale {
                    since: OffsetDateTime::now_utc(),
                    error,
                });
                true
            }
        }
    }

    /// Back in step; the outage it ended, if any.
    fn recovered(&self) -> Option<Stale> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Keeps [`Table`]s current from Redis. [`start`](Self::start) loads them
/// once (a start-up that cannot reach Redis fails); [`run`](Self::run)
/// follows the change channel until dropped.
pub struct Follower {
    client: redis::Client,
    keyspace: Keyspace,
    tables: Vec<Arc<dyn Table>>,
    freshness: Freshness,
    following: Option<Following>,
}

/// A live subscription: the sink pings it, the stream brings the changes,
/// the connection reads the records they name.
struct Following {
    sink: redis::aio::PubSubSink,
    stream: redis::aio::PubSubStream,
    connection: MultiplexedConnection,
}

/// How long to wait between reconnection attempts.
const RETRY: Duration = Duration::from_millis(250);

/// How often a quiet subscription is pinged. A connection that died
/// without a word (a network cut, a frozen proxy, a half-open socket after
/// a failover) brings no messages and no error; its unanswered ping is how
/// the instance notices, within `KEEPALIVE` + `COMMAND_TIMEOUT`, and
/// reconnects and reloads.
pub const KEEPALIVE: Duration = Duration::from_secs(1);

impl Follower {
    /// Connects to `url`, subscribes to the change channel, then loads
    /// every table (subscribing first, so nothing changed during the load
    /// is missed). Fails with one clear error when the URL is not one or
    /// Redis cannot be reached.
    pub async fn start(
        url: &str,
        keyspace: Keyspace,
        tables: Vec<Arc<dyn Table>>,
    ) -> Result<Self, DirectoryError> {
        let mut follower = Self {
            client: client(url)?,
            keyspace,
            tables,
            freshness: Freshness::default(),
            following: None,
        };
        follower.following = Some(follower.connect().await.map_err(unavailable)?);
        Ok(follower)
    }

    /// The snapshot's freshness, for health checks.
    pub fn freshness(&self) -> Freshness {
        self.freshness.clone()
    }

    /// Follows changes until the task is dropped; after a break, retries
    /// every 250 ms and loads everything again once back.
    pub async fn run(mut self) {
        loop {
            let error = match self.following.take() {
                Some(following) => self.follow(following).await,
                None => "not connected".to_string(),
            };
            if self.freshness.failed(error.clone()) {
                tracing::error!(
                    "directory: lost Redis ({error}); serving from the last snapshot until it is back"
                );
            }
            tokio::time::sleep(RETRY).await;
            match self.connect().await {
                Ok(following) => {
                    self.following = Some(following);
                    if let Some(stale) = self.freshness.recovered() {
                        tracing::info!(
                            "directory: Redis is back (stale since {}); snapshot reloaded",
                            super::users::UserSnapshot::revocation_value(stale.since)
                        );
                    }
                }
                Err(e) => {
                    self.freshness.failed(e.to_string());
                }
            }
        }
    }

    async fn connect(&self) -> redis::RedisResult<Following> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT * 10));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| timed_out("connecting for pub/sub"))??;
        let subscribed =
            tokio::time::timeout(COMMAND_TIMEOUT, pubsub.subscribe(self.keyspace.changes()));
        subscribed
            .await
            .map_err(|_| timed_out("subscribing to the change channel"))??;
        self.load(&mut connection).await?;
        let (sink, stream) = pubsub.split();
        Ok(Following {
            sink,
            stream,
            connection,
        })
    }

    /// Loads every table in `SCAN_BATCH`-record `HSCAN` rounds; logs how
    /// long the reading and the checking took.
    async fn load(&self, connection: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let started = Instant::now();
        let (mut counts, mut reading, mut checking) = (Vec::new(), Duration::ZERO, Vec::new());
        for table in &self.tables {
            let mut records = Records::new();
            let read = Instant::now();
            for name in table.tables() {
                let hash = self.keyspace.table(name);
                let loaded = scan(connection, &hash).await?;
                counts.push(format!("{} {name}", loaded.len()));
                records.insert(name, loaded);
            }
            reading += read.elapsed();
            let check = Instant::now();
            for refused in table.load(records) {
                log_refused(refused.table, &refused.name, &refused.reason);
            }
            checking.push(format!(
                "{} {} ms",
                table.tables().join("+"),
                check.elapsed().as_millis()
            ));
        }
        tracing::info!(
            "directory: loaded {} from Redis in {} ms (reading {} ms; checking {})",
            counts.join(", "),
            started.elapsed().as_millis(),
            reading.as_millis(),
            checking.join(", ")
        );
        Ok(())
    }

    /// Applies changes as they are announced, pinging the subscription
    /// every `KEEPALIVE`; returns why it stopped.
    async fn follow(&self, following: Following) -> String {
        let Following {
            mut sink,
            mut stream,
            mut connection,
        } = following;
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.tick().await; // the first tick is now
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = keepalive.tick() => {
                    let ping = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>());
                    match ping.await {
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => return format!("the subscription's ping failed: {e}"),
                        Err(_) => {
                            return format!(
                                "the subscription did not answer a ping within {} ms",
                                COMMAND_TIMEOUT.as_millis()
                            );
                        }
                    }
                }
            };
            let Some(message) = message else {
                break;
            };
            let Ok(text) = std::str::from_utf8(message.get_payload_bytes()) else {
                tracing::warn!("directory: a change message that is not UTF-8, ignored");
                continue;
            };
            let outcome = match Change::parse(text) {
                Some(Change::Reload) => self.load(&mut connection).await,
                Some(Change::Record { table, name }) => {
                    self.apply(&mut connection, table, name).await
                }
                None => {
                    tracing::warn!("directory: unknown change message {text:?}, ignored");
                    Ok(())
                }
            };
            if let Err(e) = outcome {
                return e.to_string();
            }
        }
        "the change channel closed".into()
    }

    async fn apply(
        &self,
        connection: &mut MultiplexedConnection,
        table: &str,
        name: &str,
    ) -> redis::RedisResult<()> {
        let Some(holder) = self.tables.iter().find(|t| t.tables().contains(&table)) else {
            return Ok(()); // a table this instance does not follow
        };
        let value: Option<Vec<u8>> = connection.hget(self.keyspace.table(table), name).await?;
        if let Err(reason) = holder.update(table, name, value.as_deref()) {
            log_refused(table, name, &reason);
        }
        Ok(())
    }
}

/// Every field of `hash`, `SCAN_BATCH` per round trip.
pub(super) async fn scan(
    connection: &mut MultiplexedConnection,
    hash: &str,
) -> redis::RedisResult<Vec<(String, Vec<u8>)>> {
    let mut cursor = 0u64;
    let mut all = Vec::new();
    loop {
        let (next, batch): (u64, Vec<(String, Vec<u8>)>) = redis::cmd("HSCAN")
            .arg(hash)
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_BATCH)
            .query_async(connection)
            .await?;
        all.extend(batch);
        if next == 0 {
            return Ok(all);
        }
        cursor = next;
    }
}

fn log_refused(table: &str, name: &str, reason: &str) {
    let shown: String = name.chars().take(64).collect();
    tracing::error!("directory: refused record {table}:{shown:?}, not trusted: {reason}");
}

fn timed_out(what: &'static str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("timed out {what}"),
    ))
}
