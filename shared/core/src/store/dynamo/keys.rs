//! Every key of Cruddur's DynamoDB table: the table's and indexes' key schema (template.yaml
//! declares exactly this table; the template test checks) and the format of every key value.
//! Nothing else in the store spells a key attribute or a key prefix.
//!
//! Single-table design, every access pattern a `GetItem`, a bounded `Query` or a transaction:
//!
//! | access pattern | key |
//! |---|---|
//! | user by uuid, with the user's `cruds_count` | `pk = USER#<uuid>`, `sk = PROFILE` |
//! | user by handle (unique) | `pk = HANDLE#<handle>`, `sk = HANDLE` |
//! | user by Cognito sub (unique) | `pk = SUB#<sub>`, `sk = SUB` |
//! | activity or reply | `pk = ACTIVITY#<uuid>`, `sk = ACTIVITY` |
//! | an activity's replies, oldest first | `pk = ACTIVITY#<uuid>`, `sk = REPLY#<position>` |
//! | home feed, newest first | `gsi1pk = FEED#<shard>`, `gsi1sk = <position>` (shards merged) |
//! | a user's activities, newest first | `gsi2pk = ACTIVITIES#<user uuid>`, `gsi2sk = <position>` |
//! | notifications (replies by others) | `gsi2pk = NOTIFY#<parent author uuid>`, `gsi2sk = <position>` |
//! | a user's conversations by latest message | `gsi1pk = GROUPS#<user uuid>`, `gsi1sk = <last message position>` |
//! | the user's row of a conversation | `pk = USER#<uuid>`, `sk = GROUP#<group uuid>` |
//! | a conversation's messages | `pk = GROUP#<group uuid>`, `sk = MESSAGE#<position>` |
//! | a message by uuid (idempotent creates) | `pk = MESSAGE#<uuid>`, `sk = MESSAGE` |
//!
//! A position is `<13-digit epoch ms>#<uuid>` (see [`Position::sort_key`]), so every list sorts
//! by time, then uuid. A list's partition holds only its entries, except an activity's: its
//! replies sort after the activity item itself, and are read after it (`>`), never before.
//!
//! The home feed is write-sharded: an activity's feed entry goes to shard
//! `crc32(uuid bytes) mod N` ([`feed_shard`]), so posts spread over N index partitions instead
//! of one; a page reads the N shards in parallel and merges them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::store::cursor::Position;

/// A DynamoDB item (or key).
pub type Item = HashMap<String, AttributeValue>;

/// A key schema (all key attributes are strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySchema {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// A global secondary index (projection: all attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub keys: KeySchema,
}

/// The table's primary key.
pub const TABLE_KEYS: KeySchema = KeySchema {
    partition_key: "pk",
    sort_key: "sk",
};

/// The feed shards and each user's conversations.
pub const GSI1: Index = Index {
    name: "gsi1",
    keys: KeySchema {
        partition_key: "gsi1pk",
        sort_key: "gsi1sk",
    },
};

/// Each user's activities and notifications.
pub const GSI2: Index = Index {
    name: "gsi2",
    keys: KeySchema {
        partition_key: "gsi2pk",
        sort_key: "gsi2sk",
    },
};

/// The table's global secondary indexes.
pub const INDEXES: [Index; 2] = [GSI1, GSI2];

/// The attribute DynamoDB's TTL deletes by.
pub const TTL_ATTRIBUTE: &str = "ttl";

/// How many feed shards there are unless configured (`CRUDDUR_FEED_SHARDS`): at about one write
/// unit per activity and 1,000 per second per index partition, room for ~30,000 posts a second.
pub const DEFAULT_FEED_SHARDS: u32 = 32;
/// The most feed shards a page may fan out to.
pub const MAX_FEED_SHARDS: u32 = 256;

/// Every key attribute of the table and its indexes.
pub fn key_attributes() -> Vec<&'static str> {
    let mut names = vec![TABLE_KEYS.partition_key, TABLE_KEYS.sort_key];
    for index in INDEXES {
        names.extend([index.keys.partition_key, index.keys.sort_key]);
    }
    names
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    /// The key as DynamoDB takes it (`Key`, `ExclusiveStartKey`).
    pub fn item(&self) -> Item {
        HashMap::from([
            (TABLE_KEYS.partition_key.to_owned(), s(self.pk.clone())),
            (TABLE_KEYS.sort_key.to_owned(), s(self.sk.clone())),
        ])
    }

    /// Reads a table key (a scan's `LastEvaluatedKey`).
    pub fn from_item(item: &Item) -> Option<Self> {
        let get = |name: &str| item.get(name)?.as_s().ok().cloned();
        Some(Self {
            pk: get(TABLE_KEYS.partition_key)?,
            sk: get(TABLE_KEYS.sort_key)?,
        })
    }
}

/// A user's profile (the copy addressed by uuid, which also keeps the user's `cruds_count`).
pub fn profile(user: Uuid) -> Key {
    Key::new(format!("USER#{user}"), "PROFILE")
}

/// The copy of a profile that holds its handle.
pub fn handle(handle: &str) -> Key {
    Key::new(format!("HANDLE#{handle}"), "HANDLE")
}

/// The copy of a profile that holds its Cognito sub.
pub fn sub(sub: &str) -> Key {
    Key::new(format!("SUB#{sub}"), "SUB")
}

/// An activity or reply.
pub fn activity(uuid: Uuid) -> Key {
    Key::new(format!("ACTIVITY#{uuid}"), "ACTIVITY")
}

/// The sort key of every activity item: what search scans for.
pub const ACTIVITY_SORT_KEY: &str = "ACTIVITY";

/// The marker written once the demo data is in.
pub fn seeded() -> Key {
    Key::new("META".to_owned(), "SEEDED")
}

/// A user's row of a conversation.
pub fn group_row(user: Uuid, group: Uuid) -> Key {
    Key::new(format!("USER#{user}"), format!("GROUP#{group}"))
}

/// A message, addressed by uuid (the copy a retried create reads back).
pub fn message(uuid: Uuid) -> Key {
    Key::new(format!("MESSAGE#{uuid}"), "MESSAGE")
}

/// Which feed shard an activity's entry goes to: CRC-32 of the uuid's bytes, mod `shards`.
/// Stable across processes and releases (it decides where existing entries are).
pub fn feed_shard(uuid: Uuid, shards: u32) -> u32 {
    crc32fast::hash(uuid.as_bytes()) % shards.max(1)
}

/// Where a list lives: the table itself, or an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Table,
    Index(Index),
}

impl Place {
    pub fn keys(self) -> KeySchema {
        match self {
            Place::Table => TABLE_KEYS,
            Place::Index(index) => index.keys,
        }
    }

    pub fn index_name(self) -> Option<&'static str> {
        match self {
            Place::Table => None,
            Place::Index(index) => Some(index.name),
        }
    }
}

/// One list of the table, ordered by position: a partition (of the table or an index) whose
/// sort keys are `<prefix><position>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub place: Place,
    pub partition: String,
    pub prefix: &'static str,
}

impl List {
    /// The entry's key attributes for an item at `position` (primary key for a table list,
    /// index keys for an index list).
    pub fn entry(&self, position: Position) -> [(String, AttributeValue); 2] {
        let keys = self.place.keys();
        [
            (keys.partition_key.to_owned(), s(self.partition.clone())),
            (keys.sort_key.to_owned(), s(self.sort_key(position))),
        ]
    }

    /// The primary key of the entry at `position` in a list of the table itself.
    pub fn key_at(&self, position: Position) -> Key {
        debug_assert_eq!(
            self.place,
            Place::Table,
            "index entries are not addressed by key"
        );
        Key::new(self.partition.clone(), self.sort_key(position))
    }

    /// The sort key of the entry at `position`.
    pub fn sort_key(&self, position: Position) -> String {
        format!("{}{}", self.prefix, position.sort_key())
    }

    /// The position of an item of this list, read from its sort key.
    pub fn position_of(&self, item: &Item) -> Option<Position> {
        let key = item.get(self.place.keys().sort_key)?.as_s().ok()?;
        Position::from_sort_key(key.strip_prefix(self.prefix)?)
    }
}

/// One shard of the home feed.
pub fn feed(shard: u32) -> List {
    List {
        place: Place::Index(GSI1),
        partition: format!("FEED#{shard}"),
        prefix: "",
    }
}

/// A user's top-level activities.
pub fn user_activities(user: Uuid) -> List {
    List {
        place: Place::Index(GSI2),
        partition: format!("ACTIVITIES#{user}"),
        prefix: "",
    }
}

/// Replies by others to a user's activities.
pub fn notifications(user: Uuid) -> List {
    List {
        place: Place::Index(GSI2),
        partition: format!("NOTIFY#{user}"),
        prefix: "",
    }
}

/// A user's conversations, by their latest message (position: its time, and the group uuid).
pub fn conversations(user: Uuid) -> List {
    List {
        place: Place::Index(GSI1),
        partition: format!("GROUPS#{user}"),
        prefix: "",
    }
}

/// The copies of an activity's replies, listed under it.
pub fn replies(parent: Uuid) -> List {
    List {
        place: Place::Table,
        partition: activity(parent).pk,
        prefix: "REPLY#",
    }
}

/// A conversation's messages.
pub fn messages(group: Uuid) -> List {
    List {
        place: Place::Table,
        partition: format!("GROUP#{group}"),
        prefix: "MESSAGE#",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_read_back_their_position() {
        let position = Position {
            millis: 1_700_000_000_123,
            uuid: Uuid::new_v4(),
        };
        for list in [
            feed(7),
            user_activities(Uuid::new_v4()),
            replies(Uuid::new_v4()),
            messages(Uuid::new_v4()),
        ] {
            let item: Item = list.entry(position).into_iter().collect();
            assert_eq!(list.position_of(&item), Some(position), "{list:?}");
        }
    }

    #[test]
    fn replies_sort_after_their_activity() {
        let parent = Uuid::new_v4();
        let reply = replies(parent).sort_key(Position {
            millis: 0,
            uuid: Uuid::nil(),
        });
        assert!(activity(parent).sk < reply);
        assert_eq!(activity(parent).pk, replies(parent).partition);
    }

    /// 100,000 activities spread evenly over the default shards: none more than 10% above or
    /// below its fair share (a hot shard would be the single hot key sharding removes).
    #[test]
    fn activities_spread_evenly_over_feed_shards() {
        let total = 100_000;
        let mut counts = vec![0u32; DEFAULT_FEED_SHARDS as usize];
        for _ in 0..total {
            counts[feed_shard(Uuid::new_v4(), DEFAULT_FEED_SHARDS) as usize] += 1;
        }
        let fair = total as f64 / f64::from(DEFAULT_FEED_SHARDS);
        for (shard, count) in counts.iter().enumerate() {
            let share = f64::from(*count) / fair;
            assert!(
                (0.9..=1.1).contains(&share),
                "shard {shard}: {count} of {total}"
            );
        }
        // Deterministic: the same uuid always lands in the same shard.
        let uuid = Uuid::new_v4();
        assert_eq!(feed_shard(uuid, 32), feed_shard(uuid, 32));
        assert_eq!(feed_shard(uuid, 1), 0);
    }
}
