//! The embedded store: one SQLite file (WAL, busy timeout) that several function processes share.
//!
//! Calls run synchronously under a mutex: a Lambda process serves one invocation at a time and
//! these queries take well under a millisecond, so a blocking-pool hop would cost more than it saves.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{
    params, params_from_iter, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior,
};
use uuid::Uuid;

use super::cursor::{self, Position};
use super::{Page, PageRequest, Store, StoreError, StoreResult, UserCreation};
use crate::domain::{
    message_group_uuid, Activity, Message, MessageGroup, NewActivity, NewMessage, NewUser,
    SearchTerm, User,
};

/// How long a writer waits for another process's lock before the store reports itself unavailable.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    uuid            TEXT PRIMARY KEY,
    handle          TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    email           TEXT,
    bio             TEXT,
    cognito_user_id TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    -- Kept on write: a profile view reads it instead of counting.
    cruds_count     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS activities (
    uuid                   TEXT PRIMARY KEY,
    user_uuid              TEXT NOT NULL REFERENCES users(uuid),
    message                TEXT NOT NULL,
    replies_count          INTEGER NOT NULL DEFAULT 0,
    reposts_count          INTEGER NOT NULL DEFAULT 0,
    likes_count            INTEGER NOT NULL DEFAULT 0,
    reply_to_activity_uuid TEXT REFERENCES activities(uuid),
    created_at             INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_by_time ON activities(created_at DESC, uuid DESC);
CREATE INDEX IF NOT EXISTS activities_by_user ON activities(user_uuid, created_at DESC);
CREATE INDEX IF NOT EXISTS activities_by_parent ON activities(reply_to_activity_uuid, created_at);
CREATE TABLE IF NOT EXISTS message_groups (
    uuid        TEXT PRIMARY KEY,
    user_a_uuid TEXT NOT NULL REFERENCES users(uuid),
    user_b_uuid TEXT NOT NULL REFERENCES users(uuid),
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS message_groups_a ON message_groups(user_a_uuid);
CREATE INDEX IF NOT EXISTS message_groups_b ON message_groups(user_b_uuid);
CREATE TABLE IF NOT EXISTS messages (
    uuid               TEXT PRIMARY KEY,
    message_group_uuid TEXT NOT NULL REFERENCES message_groups(uuid),
    user_uuid          TEXT NOT NULL REFERENCES users(uuid),
    message            TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages(message_group_uuid, created_at);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

const ACTIVITY_COLUMNS: &str =
    "SELECT a.uuid, u.display_name, u.handle, a.message, a.replies_count, \
     a.reposts_count, a.likes_count, a.reply_to_activity_uuid, a.created_at, a.expires_at, \
     a.user_uuid FROM activities a JOIN users u ON u.uuid = a.user_uuid";

const USER_COLUMNS: &str =
    "SELECT uuid, handle, display_name, email, bio, cognito_user_id, created_at FROM users";

const MESSAGE_COLUMNS: &str =
    "SELECT m.uuid, m.message_group_uuid, u.display_name, u.handle, m.message, m.created_at \
     FROM messages m JOIN users u ON u.uuid = m.user_uuid";

/// Cruddur on one SQLite database file (or in memory).
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed, parent directories included) the database file.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| {
                StoreError::unavailable(format!("cannot create {}: {err}", dir.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(|err| {
            StoreError::unavailable(format!("cannot open {}: {err}", path.display()))
        })?;
        Self::init(conn, true)
    }

    /// A private database that lives as long as the store (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn open_in_memory() -> StoreResult<Self> {
        Self::init(
            Connection::open_in_memory().map_err(StoreError::unavailable)?,
            false,
        )
    }

    fn init(conn: Connection, wal: bool) -> StoreResult<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(StoreError::unavailable)?;
        if wal {
            // WAL lets readers in other function processes proceed while one process writes.
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(StoreError::unavailable)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(StoreError::unavailable)?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(StoreError::unavailable)?;
        conn.execute_batch(SCHEMA)
            .map_err(StoreError::unavailable)?;
        Self::count_cruds_on_write(&conn).map_err(StoreError::unavailable)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// A database from before users kept their `cruds_count` gets the column, counted once.
    fn count_cruds_on_write(conn: &Connection) -> rusqlite::Result<()> {
        let has_column = conn
            .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = 'cruds_count'")?
            .exists([])?;
        if !has_column {
            conn.execute_batch(
                "ALTER TABLE users ADD COLUMN cruds_count INTEGER NOT NULL DEFAULT 0;
                 UPDATE users SET cruds_count = (SELECT COUNT(*) FROM activities a
                   WHERE a.user_uuid = users.uuid AND a.reply_to_activity_uuid IS NULL);",
            )?;
        }
        Ok(())
    }

    /// Runs one store operation holding the connection (its span is [`super::Traced`]'s).
    fn run<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, SqlError>) -> StoreResult<T> {
        // A panic elsewhere while holding the lock leaves the connection itself usable.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn).map_err(|err| {
            let err = err.into_store_error();
            if let StoreError::Unavailable(source) = &err {
                tracing::error!(error = %source, "sqlite call failed");
            }
            err
        })
    }

    /// A page of activities matching `filter`, newest first, after the page's cursor.
    fn page_of_activities(
        conn: &Connection,
        filter: &str,
        mut args: Vec<Value>,
        page: &PageRequest,
    ) -> Result<Page<Activity>, SqlError> {
        let mut sql = format!("{ACTIVITY_COLUMNS} WHERE {filter} AND a.expires_at > ?");
        args.push(Value::Integer(Utc::now().timestamp_millis()));
        if let Some(after) =
            cursor::decode_optional(page.cursor.as_deref()).map_err(SqlError::Domain)?
        {
            sql.push_str(" AND (a.created_at, a.uuid) < (?, ?)");
            args.push(Value::Integer(after.millis));
            args.push(Value::Text(after.uuid.to_string()));
        }
        sql.push_str(" ORDER BY a.created_at DESC, a.uuid DESC LIMIT ?");
        Self::page(conn, &sql, args, page.limit, activity_from_row, |a| {
            Position::of(a.created_at, a.uuid)
        })
    }

    /// Runs a page query (its last argument the limit, one more than the page so it can tell
    /// whether another page follows).
    fn page<T>(
        conn: &Connection,
        sql: &str,
        mut args: Vec<Value>,
        limit: usize,
        row: impl FnMut(&Row) -> rusqlite::Result<T>,
        position: impl Fn(&T) -> Position,
    ) -> Result<Page<T>, SqlError> {
        args.push(Value::Integer(limit as i64 + 1));
        let mut items = conn
            .prepare_cached(sql)?
            .query_map(params_from_iter(args), row)?
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| position(last).encode())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    fn activity(conn: &Connection, uuid: Uuid) -> Result<Option<Activity>, SqlError> {
        Ok(conn
            .prepare_cached(&format!(
                "{ACTIVITY_COLUMNS} WHERE a.uuid = ?1 AND a.expires_at > ?2"
            ))?
            .query_row(
                params![uuid.to_string(), Utc::now().timestamp_millis()],
                activity_from_row,
            )
            .optional()?)
    }

    /// An activity as stored, expired or not (to read back what was just written).
    fn activity_including_expired(
        conn: &Connection,
        uuid: Uuid,
    ) -> Result<Option<Activity>, SqlError> {
        Ok(conn
            .prepare_cached(&format!("{ACTIVITY_COLUMNS} WHERE a.uuid = ?1"))?
            .query_row(params![uuid.to_string()], activity_from_row)
            .optional()?)
    }

    fn user_where(conn: &Connection, filter: &str, arg: &str) -> Result<Option<User>, SqlError> {
        Ok(conn
            .prepare_cached(&format!("{USER_COLUMNS} WHERE {filter}"))?
            .query_row([arg], user_from_row)
            .optional()?)
    }

    fn insert_activity(
        conn: &Connection,
        author: &User,
        parent: Option<Uuid>,
        new: &NewActivity,
    ) -> Result<(), SqlError> {
        conn.prepare_cached(
            "INSERT INTO activities (uuid, user_uuid, message, reply_to_activity_uuid, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            new.uuid.to_string(),
            author.uuid.to_string(),
            new.message,
            parent.map(|u| u.to_string()),
            new.created_at.timestamp_millis(),
            new.expires_at.timestamp_millis(),
        ])
        .map_err(|err| {
            SqlError::on_constraint(err, |kind| match kind {
                Constraint::ForeignKey => StoreError::NotFound("user_not_found"),
                _ => StoreError::Conflict("activity_exists"),
            })
        })?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn system(&self) -> &'static str {
        "sqlite"
    }

    async fn is_seeded(&self) -> StoreResult<bool> {
        self.run(|conn| {
            Ok(conn
                .query_row("SELECT 1 FROM meta WHERE key = 'seeded'", [], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    async fn mark_seeded(&self) -> StoreResult<()> {
        self.run(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('seeded', ?1)",
                [Utc::now().to_rfc3339()],
            )?;
            Ok(())
        })
    }

    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        self.run(|conn| Self::user_where(conn, "handle = ?1", handle))
    }

    async fn user_by_cognito_sub(&self, sub: &str) -> StoreResult<Option<User>> {
        self.run(|conn| Self::user_where(conn, "cognito_user_id = ?1", sub))
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<UserCreation> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(existing) = Self::user_where(&tx, "cognito_user_id = ?1", &user.cognito_user_id)? {
                return Ok(UserCreation::AlreadyExists(existing));
            }
            tx.execute(
                "INSERT INTO users (uuid, handle, display_name, email, bio, cognito_user_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user.uuid.to_string(),
                    user.handle,
                    user.display_name,
                    user.email,
                    user.bio,
                    user.cognito_user_id,
                    user.created_at.timestamp_millis(),
                ],
            )
            .map_err(|err| {
                SqlError::on_constraint(err, |_| {
                    if Self::user_where(&tx, "handle = ?1", &user.handle).ok().flatten().is_some() {
                        StoreError::Conflict("user_handle_taken")
                    } else {
                        StoreError::Conflict("user_exists")
                    }
                })
            })?;
            let created = Self::user_where(&tx, "uuid = ?1", &user.uuid.to_string())?
                .ok_or(SqlError::Domain(StoreError::NotFound("user_not_found")))?;
            tx.commit()?;
            Ok(UserCreation::Created(created))
        })
    }

    async fn update_profile(
        &self,
        user: &User,
        display_name: String,
        bio: Option<String>,
    ) -> StoreResult<User> {
        self.run(|conn| {
            let uuid = user.uuid.to_string();
            let changed = conn.execute(
                "UPDATE users SET display_name = ?1, bio = ?2 WHERE uuid = ?3",
                params![display_name, bio, uuid],
            )?;
            if changed == 0 {
                return Err(SqlError::Domain(StoreError::NotFound("user_not_found")));
            }
            Self::user_where(conn, "uuid = ?1", &uuid)?
                .ok_or(SqlError::Domain(StoreError::NotFound("user_not_found")))
        })
    }

    async fn home_feed(&self, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.run(|conn| {
            Self::page_of_activities(conn, "a.reply_to_activity_uuid IS NULL", vec![], &page)
        })
    }

    async fn user_activities(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.run(|conn| {
            Self::page_of_activities(
                conn,
                "a.user_uuid = ? AND a.reply_to_activity_uuid IS NULL",
                vec![Value::Text(user.uuid.to_string())],
                &page,
            )
        })
    }

    async fn cruds_count(&self, user: &User) -> StoreResult<i64> {
        self.run(|conn| {
            Ok(conn
                .prepare_cached("SELECT cruds_count FROM users WHERE uuid = ?1")?
                .query_row([user.uuid.to_string()], |row| row.get(0))
                .optional()?
                .unwrap_or(0))
        })
    }

    async fn search(&self, term: &SearchTerm, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.run(|conn| {
            // instr() rather than LIKE: the term is matched literally, `%` and `_` included.
            Self::page_of_activities(
                conn,
                "instr(lower(a.message), lower(?)) > 0",
                vec![Value::Text(term.as_str().to_owned())],
                &page,
            )
        })
    }

    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>> {
        self.run(|conn| Self::activity(conn, uuid))
    }

    async fn activity_with_replies(
        &self,
        uuid: Uuid,
        replies: PageRequest,
    ) -> StoreResult<Option<(Activity, Page<Activity>)>> {
        self.run(|conn| {
            let Some(activity) = Self::activity(conn, uuid)? else {
                return Ok(None);
            };
            let mut sql = format!(
                "{ACTIVITY_COLUMNS} WHERE a.reply_to_activity_uuid = ? AND a.expires_at > ?"
            );
            let mut args = vec![
                Value::Text(uuid.to_string()),
                Value::Integer(Utc::now().timestamp_millis()),
            ];
            if let Some(after) =
                cursor::decode_optional(replies.cursor.as_deref()).map_err(SqlError::Domain)?
            {
                sql.push_str(" AND (a.created_at, a.uuid) > (?, ?)");
                args.push(Value::Integer(after.millis));
                args.push(Value::Text(after.uuid.to_string()));
            }
            sql.push_str(" ORDER BY a.created_at ASC, a.uuid ASC LIMIT ?");
            let page = Self::page(conn, &sql, args, replies.limit, activity_from_row, |a| {
                Position::of(a.created_at, a.uuid)
            })?;
            Ok(Some((activity, page)))
        })
    }

    async fn create_activity(&self, author: &User, activity: NewActivity) -> StoreResult<Activity> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            Self::insert_activity(&tx, author, None, &activity)?;
            tx.execute(
                "UPDATE users SET cruds_count = cruds_count + 1 WHERE uuid = ?1",
                [author.uuid.to_string()],
            )?;
            let created = Self::activity_including_expired(&tx, activity.uuid)?
                .ok_or(SqlError::Domain(StoreError::NotFound("activity_not_found")))?;
            tx.commit()?;
            Ok(created)
        })
    }

    async fn create_reply(
        &self,
        author: &User,
        parent: &Activity,
        reply: NewActivity,
    ) -> StoreResult<Activity> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if Self::activity(&tx, parent.uuid)?.is_none() {
                return Err(SqlError::Domain(StoreError::NotFound("activity_not_found")));
            }
            Self::insert_activity(&tx, author, Some(parent.uuid), &reply)?;
            tx.execute(
                "UPDATE activities SET replies_count = replies_count + 1 WHERE uuid = ?1",
                [parent.uuid.to_string()],
            )?;
            let created = Self::activity_including_expired(&tx, reply.uuid)?
                .ok_or(SqlError::Domain(StoreError::NotFound("activity_not_found")))?;
            tx.commit()?;
            Ok(created)
        })
    }

    async fn notifications(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.run(|conn| {
            Self::page_of_activities(
                conn,
                "a.user_uuid <> ?1 AND a.reply_to_activity_uuid IN \
                 (SELECT p.uuid FROM activities p WHERE p.user_uuid = ?1)",
                vec![Value::Text(user.uuid.to_string())],
                &page,
            )
        })
    }

    async fn message_groups(
        &self,
        user: &User,
        page: PageRequest,
    ) -> StoreResult<Page<MessageGroup>> {
        self.run(|conn| {
            let mut sql = "WITH mine AS ( \
                 SELECT g.uuid AS group_uuid, \
                        CASE WHEN g.user_a_uuid = ?1 THEN g.user_b_uuid ELSE g.user_a_uuid END AS other, \
                        (SELECT l.uuid FROM messages l WHERE l.message_group_uuid = g.uuid \
                         ORDER BY l.created_at DESC, l.uuid DESC LIMIT 1) AS last \
                 FROM message_groups g WHERE g.user_a_uuid = ?1 OR g.user_b_uuid = ?1) \
                 SELECT mine.group_uuid, o.display_name, o.handle, m.message, m.created_at \
                 FROM mine JOIN users o ON o.uuid = mine.other JOIN messages m ON m.uuid = mine.last"
                .to_owned();
            let mut args = vec![Value::Text(user.uuid.to_string())];
            if let Some(after) = cursor::decode_optional(page.cursor.as_deref()).map_err(SqlError::Domain)? {
                sql.push_str(" WHERE (m.created_at, mine.group_uuid) < (?2, ?3)");
                args.push(Value::Integer(after.millis));
                args.push(Value::Text(after.uuid.to_string()));
            }
            sql.push_str(&format!(
                " ORDER BY m.created_at DESC, mine.group_uuid DESC LIMIT ?{}",
                args.len() + 1
            ));
            Self::page(
                conn,
                &sql,
                args,
                page.limit,
                |row| {
                    Ok(MessageGroup {
                        uuid: uuid_col(row, 0)?,
                        display_name: row.get(1)?,
                        handle: row.get(2)?,
                        message: row.get(3)?,
                        created_at: time_col(row, 4)?,
                    })
                },
                |g| Position::of(g.created_at, g.uuid),
            )
        })
    }

    async fn conversation_partner(&self, user: &User, group: Uuid) -> StoreResult<Option<User>> {
        self.run(|conn| {
            let other: Option<String> = conn
                .prepare_cached(
                    "SELECT CASE WHEN user_a_uuid = ?2 THEN user_b_uuid ELSE user_a_uuid END \
                     FROM message_groups WHERE uuid = ?1 AND (user_a_uuid = ?2 OR user_b_uuid = ?2)",
                )?
                .query_row(params![group.to_string(), user.uuid.to_string()], |row| {
                    row.get(0)
                })
                .optional()?;
            match other {
                Some(other) => Self::user_where(conn, "uuid = ?1", &other),
                None => Ok(None),
            }
        })
    }

    async fn messages_between(
        &self,
        user: &User,
        other: &User,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        self.run(|conn| {
            let group = message_group_uuid(user.uuid, other.uuid);
            let mut sql = format!("{MESSAGE_COLUMNS} WHERE m.message_group_uuid = ?");
            let mut args = vec![Value::Text(group.to_string())];
            if let Some(before) =
                cursor::decode_optional(page.cursor.as_deref()).map_err(SqlError::Domain)?
            {
                sql.push_str(" AND (m.created_at, m.uuid) < (?, ?)");
                args.push(Value::Integer(before.millis));
                args.push(Value::Text(before.uuid.to_string()));
            }
            // The newest page first, read newest first; shown oldest first.
            sql.push_str(" ORDER BY m.created_at DESC, m.uuid DESC LIMIT ?");
            let mut page = Self::page(conn, &sql, args, page.limit, message_from_row, |m| {
                Position::of(m.created_at, m.uuid)
            })?;
            page.items.reverse();
            Ok(page)
        })
    }

    async fn message(&self, uuid: Uuid) -> StoreResult<Option<Message>> {
        self.run(|conn| {
            Ok(conn
                .prepare_cached(&format!("{MESSAGE_COLUMNS} WHERE m.uuid = ?1"))?
                .query_row([uuid.to_string()], message_from_row)
                .optional()?)
        })
    }

    async fn create_message(
        &self,
        sender: &User,
        receiver: &User,
        message: NewMessage,
    ) -> StoreResult<Message> {
        self.run(|conn| {
            let group = message_group_uuid(sender.uuid, receiver.uuid);
            let (a, b) = ordered(sender.uuid, receiver.uuid);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let not_a_user =
                |err| SqlError::on_constraint(err, |_| StoreError::NotFound("user_not_found"));
            tx.execute(
                "INSERT OR IGNORE INTO message_groups (uuid, user_a_uuid, user_b_uuid, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    group.to_string(),
                    a.to_string(),
                    b.to_string(),
                    message.created_at.timestamp_millis()
                ],
            )
            .map_err(not_a_user)?;
            tx.execute(
                "INSERT INTO messages (uuid, message_group_uuid, user_uuid, message, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    message.uuid.to_string(),
                    group.to_string(),
                    sender.uuid.to_string(),
                    message.message,
                    message.created_at.timestamp_millis()
                ],
            )
            .map_err(|err| {
                SqlError::on_constraint(err, |kind| match kind {
                    Constraint::ForeignKey => StoreError::NotFound("user_not_found"),
                    _ => StoreError::Conflict("message_exists"),
                })
            })?;
            let created = tx
                .prepare_cached(&format!("{MESSAGE_COLUMNS} WHERE m.uuid = ?1"))?
                .query_row([message.uuid.to_string()], message_from_row)?;
            tx.commit()?;
            Ok(created)
        })
    }
}

fn ordered(x: Uuid, y: Uuid) -> (Uuid, Uuid) {
    if x <= y {
        (x, y)
    } else {
        (y, x)
    }
}

fn uuid_col(row: &Row, idx: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(err))
    })
}

fn time_col(row: &Row, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let millis: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(millis)
        .ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, millis))
}

fn activity_from_row(row: &Row) -> rusqlite::Result<Activity> {
    let parent: Option<String> = row.get(7)?;
    Ok(Activity {
        uuid: uuid_col(row, 0)?,
        author_uuid: uuid_col(row, 10)?,
        display_name: row.get(1)?,
        handle: row.get(2)?,
        message: row.get(3)?,
        replies_count: row.get(4)?,
        reposts_count: row.get(5)?,
        likes_count: row.get(6)?,
        reply_to_activity_uuid: parent.and_then(|p| Uuid::parse_str(&p).ok()),
        created_at: time_col(row, 8)?,
        expires_at: time_col(row, 9)?,
    })
}

fn user_from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        uuid: uuid_col(row, 0)?,
        handle: row.get(1)?,
        display_name: row.get(2)?,
        email: row.get(3)?,
        bio: row.get(4)?,
        cognito_user_id: row.get(5)?,
        created_at: time_col(row, 6)?,
    })
}

fn message_from_row(row: &Row) -> rusqlite::Result<Message> {
    Ok(Message {
        uuid: uuid_col(row, 0)?,
        message_group_uuid: uuid_col(row, 1)?,
        display_name: row.get(2)?,
        handle: row.get(3)?,
        message: row.get(4)?,
        created_at: time_col(row, 5)?,
    })
}

/// Which constraint a write broke.
enum Constraint {
    ForeignKey,
    Other,
}

/// An error inside a store operation: SQLite's own, or a domain outcome decided mid-transaction.
enum SqlError {
    Sqlite(rusqlite::Error),
    Domain(StoreError),
}

impl From<rusqlite::Error> for SqlError {
    fn from(err: rusqlite::Error) -> Self {
        SqlError::Sqlite(err)
    }
}

impl SqlError {
    /// Maps a constraint violation to a domain outcome; any other error stays a SQLite error.
    fn on_constraint(err: rusqlite::Error, map: impl FnOnce(Constraint) -> StoreError) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ConstraintViolation => {
                let kind = if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                    Constraint::ForeignKey
                } else {
                    Constraint::Other
                };
                SqlError::Domain(map(kind))
            }
            _ => SqlError::Sqlite(err),
        }
    }

    fn into_store_error(self) -> StoreError {
        match self {
            SqlError::Domain(err) => err,
            SqlError::Sqlite(err) => StoreError::unavailable(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unopenable_path_is_unavailable_not_a_panic() {
        let err = SqliteStore::open("/proc/cruddur/cannot/cruddur.db")
            .err()
            .expect("must fail");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn processes_share_one_file_safely() {
        let dir = std::env::temp_dir().join(format!("cruddur-test-{}", Uuid::new_v4()));
        let path = dir.join("nested/cruddur.db");
        // Four connections stand in for four function processes, writing at once.
        let stores: Vec<_> = (0..4)
            .map(|_| std::sync::Arc::new(SqliteStore::open(&path).unwrap()))
            .collect();
        crate::store::seed::seed_demo_data(stores[0].as_ref(), Utc::now())
            .await
            .unwrap();
        let londo = stores[0].user_by_handle("londo").await.unwrap().unwrap();
        let writers: Vec<_> = stores
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, store)| {
                let londo = londo.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    for n in 0..25 {
                        let now = Utc::now();
                        rt.block_on(store.create_activity(
                            &londo,
                            NewActivity {
                                uuid: Uuid::new_v4(),
                                message: format!("writer {i} post {n}"),
                                created_at: now,
                                expires_at: now + chrono::Duration::hours(1),
                            },
                        ))
                        .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(stores[3].cruds_count(&londo).await.unwrap(), 100);
        let mode: String = stores[1]
            .conn
            .lock()
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(stores);
        std::fs::remove_dir_all(dir).ok();
    }

    mod contract {
        use std::sync::Arc;

        use crate::store::Store;

        async fn seeded() -> Arc<dyn Store> {
            crate::testing::seeded_store().await
        }

        crate::store_contract_tests!(seeded);
    }
}
