//! The page cursor every store hands out: one position in a list ordered by time, then uuid (the
//! last item of a page), opaque to clients. Versioned, so its format can change without reading
//! an old cursor wrongly; a cursor that is not well formed is refused. Cursors are not signed: a
//! well-formed one made by hand only moves where a page starts, within lists the caller may read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

/// The cursor format's version.
const VERSION: &str = "v1";
/// Longest cursor read: a v1 position is about 70 characters.
const MAX_CURSOR_CHARS: usize = 200;

/// Where a list continues: after (or before, for lists read backwards) this item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub millis: i64,
    pub uuid: Uuid,
}

impl Position {
    pub fn of(time: DateTime<Utc>, uuid: Uuid) -> Self {
        Self {
            millis: time.timestamp_millis(),
            uuid,
        }
    }

    /// The opaque text a client passes back.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{VERSION}:{}:{}", self.millis, self.uuid))
    }

    /// Reads a cursor this module encoded; anything else is `InvalidCursor`.
    pub fn decode(cursor: &str) -> Result<Self, StoreError> {
        let cursor = cursor.trim();
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(StoreError::InvalidCursor);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = std::str::from_utf8(&raw).map_err(|_| StoreError::InvalidCursor)?;
        let mut parts = text.splitn(3, ':');
        let (Some(VERSION), Some(millis), Some(uuid)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(StoreError::InvalidCursor);
        };
        let millis: i64 = millis.parse().map_err(|_| StoreError::InvalidCursor)?;
        // A time that is no time: the store never handed it out.
        DateTime::from_timestamp_millis(millis)
            .filter(|_| millis >= 0)
            .ok_or(StoreError::InvalidCursor)?;
        let uuid = Uuid::try_parse(uuid).map_err(|_| StoreError::InvalidCursor)?;
        Ok(Self { millis, uuid })
    }

    /// The position as a sort key: `<13-digit epoch ms>#<uuid>`, ordered as the position is.
    pub fn sort_key(self) -> String {
        format!("{:013}#{}", self.millis, self.uuid)
    }

    /// Reads a sort key written by [`Position::sort_key`] (after any prefix).
    pub fn from_sort_key(key: &str) -> Option<Self> {
        let (millis, uuid) = key.rsplit_once('#')?;
        let millis = millis.rsplit('#').next()?;
        Some(Self {
            millis: millis.parse().ok()?,
            uuid: Uuid::try_parse(uuid).ok()?,
        })
    }
}

/// The version of a scan cursor (a store that lists by scanning, not by position).
const SCAN_VERSION: &str = "s1";

/// Where a scan continues: the key of the item it stopped after, opaque to clients.
pub fn encode_scan(key: &[String]) -> String {
    let json = serde_json::to_string(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{SCAN_VERSION}:{json}"))
}

/// Reads a scan cursor of `parts` non-empty key parts; anything else is `InvalidCursor`.
pub fn decode_scan(cursor: &str, parts: usize) -> Result<Vec<String>, StoreError> {
    let cursor = cursor.trim();
    if cursor.len() > 2 * MAX_CURSOR_CHARS + 400 {
        return Err(StoreError::InvalidCursor);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = std::str::from_utf8(&raw).map_err(|_| StoreError::InvalidCursor)?;
    let json = text
        .strip_prefix(SCAN_VERSION)
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or(StoreError::InvalidCursor)?;
    let key: Vec<String> = serde_json::from_str(json).map_err(|_| StoreError::InvalidCursor)?;
    if key.len() != parts || key.iter().any(|part| part.is_empty()) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(key)
}

/// The position a page request continues from, if any.
pub fn decode_optional(cursor: Option<&str>) -> Result<Option<Position>, StoreError> {
    cursor.map(Position::decode).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_order_as_sort_keys() {
        let a = Position {
            millis: 1_700_000_000_000,
            uuid: Uuid::new_v4(),
        };
        assert_eq!(Position::decode(&a.encode()).unwrap(), a);
        let b = Position {
            millis: 1_700_000_000_001,
            uuid: Uuid::nil(),
        };
        assert!(a < b && a.sort_key() < b.sort_key());
        assert_eq!(
            Position::from_sort_key(&format!("REPLY#{}", a.sort_key())),
            Some(a)
        );
    }

    #[test]
    fn scan_cursors_round_trip_and_are_not_positions() {
        let key = vec!["ACTIVITY#x".to_owned(), "ACTIVITY".to_owned()];
        let cursor = encode_scan(&key);
        assert_eq!(decode_scan(&cursor, 2).unwrap(), key);
        assert!(matches!(
            decode_scan(&cursor, 3),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            Position::decode(&cursor),
            Err(StoreError::InvalidCursor)
        ));
        let position = Position::of(chrono::Utc::now(), Uuid::new_v4()).encode();
        assert!(matches!(
            decode_scan(&position, 2),
            Err(StoreError::InvalidCursor)
        ));
        let blank = encode_scan(&["".to_owned(), "x".to_owned()]);
        assert!(matches!(
            decode_scan(&blank, 2),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn anything_else_is_an_invalid_cursor() {
        let uuid = Uuid::new_v4();
        for bad in [
            String::new(),
            "!!!".into(),
            "bm90LWEtY3Vyc29y".into(),
            URL_SAFE_NO_PAD.encode(format!("v2:1:{uuid}")),
            URL_SAFE_NO_PAD.encode(format!("1700000000000:{uuid}")),
            URL_SAFE_NO_PAD.encode("v1:12:not-a-uuid"),
            URL_SAFE_NO_PAD.encode(format!("v1:-5:{uuid}")),
            URL_SAFE_NO_PAD.encode(format!("v1:99999999999999999999:{uuid}")),
            "x".repeat(100_000),
        ] {
            assert!(
                matches!(Position::decode(&bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
