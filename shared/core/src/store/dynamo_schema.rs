//! The one definition of Cruddur's DynamoDB table: its keys, indexes and TTL attribute.
//! template.yaml declares exactly this table (the template test checks), and the DynamoDB store
//! and its local/test setup create it from here.
//!
//! Single-table design, every access pattern a Query or GetItem:
//!
//! | access pattern | key |
//! |---|---|
//! | user by uuid | `pk = USER#<uuid>`, `sk = PROFILE` |
//! | user by handle (unique) | `pk = HANDLE#<handle>`, `sk = HANDLE` |
//! | user by Cognito sub (unique) | `pk = SUB#<sub>`, `sk = SUB` |
//! | activity, and its replies oldest first | `pk = ACTIVITY#<uuid>`: `sk = ACTIVITY`, then `sk = REPLY#<time>#<uuid>` |
//! | home feed, newest first | `gsi1pk = FEED`, `gsi1sk = <time>#<uuid>` |
//! | a user's activities, newest first | `gsi2pk = ACTIVITIES#<user uuid>`, `gsi2sk = <time>#<uuid>` |
//! | notifications (replies to a user's activities) | `gsi2pk = NOTIFY#<parent author uuid>`, `gsi2sk = <time>#<uuid>` |
//! | a user's message groups by last message | `gsi1pk = GROUPS#<user uuid>`, `gsi1sk = <last message time>#<group uuid>` |
//! | messages of a group, oldest first | `pk = GROUP#<group uuid>`, `sk = MESSAGE#<time>#<uuid>` |
//!
//! Activities carry `ttl` (epoch seconds of `expires_at`); DynamoDB deletes them lazily, so reads
//! filter expired items too.

/// A key attribute (all keys are strings).
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

/// The table's global secondary indexes.
pub const INDEXES: [Index; 2] = [
    Index {
        name: "gsi1",
        keys: KeySchema {
            partition_key: "gsi1pk",
            sort_key: "gsi1sk",
        },
    },
    Index {
        name: "gsi2",
        keys: KeySchema {
            partition_key: "gsi2pk",
            sort_key: "gsi2sk",
        },
    },
];

/// The attribute DynamoDB's TTL deletes by.
pub const TTL_ATTRIBUTE: &str = "ttl";

/// Every key attribute of the table and its indexes.
pub fn key_attributes() -> Vec<&'static str> {
    let mut names = vec![TABLE_KEYS.partition_key, TABLE_KEYS.sort_key];
    for index in INDEXES {
        names.extend([index.keys.partition_key, index.keys.sort_key]);
    }
    names
}
