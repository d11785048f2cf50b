//! Cruddur's domain: the things the API talks about, and the types that can only hold valid input.
//!
//! Validation returns error *codes* (snake_case strings the Cruddur frontend shows). Parsers of a
//! request collect every failing check so the caller sees all of them at once.

use chrono::{DateTime, Duration, Utc};
use serde::{Serialize, Serializer};
use uuid::Uuid;

/// Longest activity ("crud"), counted in Unicode scalar values.
pub const ACTIVITY_MAX_CHARS: usize = 280;
/// Longest reply or direct message, counted in Unicode scalar values.
pub const REPLY_MAX_CHARS: usize = 1024;
/// Longest search term, counted in Unicode scalar values.
pub const SEARCH_TERM_MAX_CHARS: usize = 100;
/// Longest handle. Handles are `[a-z0-9_]`, as Twitter's (see [`Handle`]).
pub const HANDLE_MAX_CHARS: usize = 15;
/// Longest display name, counted in Unicode scalar values after trimming.
pub const DISPLAY_NAME_MAX_CHARS: usize = 60;
/// Longest bio, counted in Unicode scalar values after trimming.
pub const BIO_MAX_CHARS: usize = 300;

/// A Cruddur user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(skip)]
    pub email: Option<String>,
    /// The stable Cognito identity (`sub` claim). Never serialised into responses.
    #[serde(skip)]
    pub cognito_user_id: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// A user to be created (by the post-confirmation trigger or the seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
    pub email: Option<String>,
    pub bio: Option<String>,
    pub cognito_user_id: String,
    pub created_at: DateTime<Utc>,
}

/// An activity (a "crud") or, when `reply_to_activity_uuid` is set, a reply to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub uuid: Uuid,
    /// The author's user uuid: the stores' to know (whose notifications a reply goes to), not
    /// the API's to show.
    #[serde(skip)]
    pub author_uuid: Uuid,
    pub display_name: String,
    pub handle: String,
    pub message: String,
    pub replies_count: i64,
    pub reposts_count: i64,
    pub likes_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_activity_uuid: Option<Uuid>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// An activity or reply to be stored (its author and, for a reply, its parent are given beside
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub uuid: Uuid,
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A user's profile as shown above their activities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
    pub bio: Option<String>,
    pub cruds_count: i64,
    /// The user's Cognito `sub`: the frontend names avatars after it.
    pub cognito_user_uuid: Option<String>,
}

impl Profile {
    pub fn of(user: User, cruds_count: i64) -> Self {
        Self {
            uuid: user.uuid,
            handle: user.handle,
            display_name: user.display_name,
            bio: user.bio,
            cruds_count,
            cognito_user_uuid: user.cognito_user_id,
        }
    }
}

/// A user as the "new message to @handle" page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserShort {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
}

impl From<User> for UserShort {
    fn from(user: User) -> Self {
        Self {
            uuid: user.uuid,
            handle: user.handle,
            display_name: user.display_name,
        }
    }
}

/// One conversation in the caller's inbox: the other party and the last message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageGroup {
    pub uuid: Uuid,
    pub display_name: String,
    pub handle: String,
    pub message: String,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// A direct message, with its sender's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub uuid: Uuid,
    pub message_group_uuid: Uuid,
    pub display_name: String,
    pub handle: String,
    pub message: String,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// A direct message to be stored (its sender and receiver are given beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub uuid: Uuid,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-21T06:02:04.123Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// A message body that is present, not blank and at most `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText<const MAX: usize>(String);

/// The text of an activity (at most 280 characters).
pub type ActivityMessage = MessageText<ACTIVITY_MAX_CHARS>;
/// The text of a reply or direct message (at most 1024 characters).
pub type ReplyMessage = MessageText<REPLY_MAX_CHARS>;

impl<const MAX: usize> MessageText<MAX> {
    /// Validates a message. Leading/trailing whitespace is kept as written; a message of only
    /// whitespace and invisible characters (zero-width, direction marks) is blank.
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let raw = raw.unwrap_or_default();
        if raw.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
            Err("message_blank")
        } else if raw.chars().count() > MAX {
            Err("message_exceed_max_chars")
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// How long an activity lives, as offered by the Cruddur frontend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    ThirtyDays,
    SevenDays,
    ThreeDays,
    OneDay,
    TwelveHours,
    ThreeHours,
    OneHour,
}

impl Ttl {
    pub const ALL: [(&'static str, Ttl); 7] = [
        ("30-days", Ttl::ThirtyDays),
        ("7-days", Ttl::SevenDays),
        ("3-days", Ttl::ThreeDays),
        ("1-day", Ttl::OneDay),
        ("12-hours", Ttl::TwelveHours),
        ("3-hours", Ttl::ThreeHours),
        ("1-hour", Ttl::OneHour),
    ];

    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let raw = raw.unwrap_or_default().trim();
        if raw.is_empty() {
            return Err("ttl_blank");
        }
        Self::ALL
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(_, ttl)| *ttl)
            .ok_or("ttl_invalid")
    }

    pub fn duration(self) -> Duration {
        match self {
            Ttl::ThirtyDays => Duration::days(30),
            Ttl::SevenDays => Duration::days(7),
            Ttl::ThreeDays => Duration::days(3),
            Ttl::OneDay => Duration::days(1),
            Ttl::TwelveHours => Duration::hours(12),
            Ttl::ThreeHours => Duration::hours(3),
            Ttl::OneHour => Duration::hours(1),
        }
    }
}

/// A user handle: `[a-z0-9_]{1,15}`, Twitter's rule. Handles are identities, so nothing that
/// can look like another handle is one: no upper case (input is lower-cased, so `WORF` is
/// `worf`), no look-alike letters from other scripts or widths, no invisible or direction
/// characters, no spaces or punctuation. Uniqueness is therefore case-insensitive too. A path
/// may write it `@worf` or `worf`; it is percent-decoded once, at the edge, never here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    /// `blank_code` names the field for the client (`blank_user_handle`,
    /// `user_receiver_handle_blank`, ...); a non-blank handle breaking the rule is
    /// `user_handle_invalid`.
    pub fn parse(raw: Option<&str>, blank_code: &'static str) -> Result<Self, &'static str> {
        let trimmed = raw.unwrap_or_default().trim();
        let handle = trimmed.strip_prefix('@').unwrap_or(trimmed);
        if handle.is_empty() {
            return Err(blank_code);
        }
        let handle = handle.to_ascii_lowercase();
        let valid = handle.len() <= HANDLE_MAX_CHARS
            && handle
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Self(handle))
        } else {
            Err("user_handle_invalid")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1 to 60 characters, no control, invisible or direction characters
/// (they let one name pose as another, or reverse the text around it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let name = raw.unwrap_or_default().trim();
        if name.is_empty() {
            Err("display_name_blank")
        } else if name.chars().count() > DISPLAY_NAME_MAX_CHARS {
            Err("display_name_too_long")
        } else if name.chars().any(|c| c.is_control() || is_invisible(c)) {
            Err("display_name_invalid")
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A bio: trimmed, at most 300 characters; line breaks are fine, other control, invisible and
/// direction characters are not. An empty bio is no bio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(Option<String>);

impl Bio {
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let bio = raw.unwrap_or_default().trim();
        if bio.chars().count() > BIO_MAX_CHARS {
            Err("bio_too_long")
        } else if bio
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\r') || is_invisible(c))
        {
            Err("bio_invalid")
        } else {
            Ok(Self(Some(bio.to_owned()).filter(|b| !b.is_empty())))
        }
    }

    pub fn into_inner(self) -> Option<String> {
        self.0
    }
}

/// Characters that print as nothing, or only change the direction of the text around them:
/// zero-width spaces and joiners, direction marks, embeddings, overrides and isolates, the
/// byte-order mark, soft hyphen. A message of only these is blank; a name must not hide them.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// A search term: present, not blank, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm(String);

impl SearchTerm {
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let term = raw.unwrap_or_default().trim();
        if term.is_empty() {
            Err("search_term_blank")
        } else if term.chars().count() > SEARCH_TERM_MAX_CHARS {
            Err("search_term_too_long")
        } else {
            Ok(Self(term.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses an activity uuid from a path segment.
pub fn parse_activity_uuid(raw: Option<&str>) -> Result<Uuid, &'static str> {
    raw.map(str::trim)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or("activity_uuid_invalid")
}

/// Decodes `%XX` escapes once (a path may carry `@` as `%40`). Invalid escapes are kept verbatim
/// and invalid UTF-8 is replaced, so this never fails.
pub fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// Longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

/// A client's `Idempotency-Key` (IETF draft `draft-ietf-httpapi-idempotency-key-header`): a
/// structured-field string (`"..."`), or the same text bare as most clients send it; 1 to 255
/// visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, &'static str> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| "idempotency_key_invalid")?
            .trim();
        let text = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        let visible = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
        if text.is_empty() || text.len() > IDEMPOTENCY_KEY_MAX_CHARS || !text.chars().all(visible) {
            return Err("idempotency_key_invalid");
        }
        Ok(Self(text.to_owned()))
    }

    /// The uuid a create made with this key by `caller` gets: the same for every repeat, and
    /// different for another caller or another kind of create (`scope`).
    pub fn uuid_for(&self, scope: &str, caller: Uuid) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("cruddur:idempotency:{scope}:{caller}:{}", self.0).as_bytes(),
        )
    }
}

/// The conversation between two users has one stable id, whichever of them writes first.
pub fn message_group_uuid(a: Uuid, b: Uuid) -> Uuid {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("cruddur:message-group:{low}:{high}").as_bytes(),
    )
}

/// The demo users' Cognito `sub`: UUID v5 in the URL namespace of `cruddur:demo:<handle>`.
pub fn demo_cognito_sub(handle: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("cruddur:demo:{handle}").as_bytes(),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_counts_unicode_scalar_values() {
        let emoji = "🦀".repeat(280);
        assert_eq!(emoji.len(), 1120, "four bytes each");
        assert!(ActivityMessage::parse(Some(&emoji)).is_ok());
        let too_long = "🦀".repeat(281);
        assert_eq!(
            ActivityMessage::parse(Some(&too_long)),
            Err("message_exceed_max_chars")
        );
        assert!(ReplyMessage::parse(Some(&"a".repeat(1024))).is_ok());
        assert_eq!(
            ReplyMessage::parse(Some(&"a".repeat(1025))),
            Err("message_exceed_max_chars")
        );
    }

    #[test]
    fn blank_messages_are_rejected() {
        for raw in [None, Some(""), Some("   \n\t")] {
            assert_eq!(ActivityMessage::parse(raw), Err("message_blank"));
        }
    }

    #[test]
    fn ttl_accepts_the_frontend_choices_only() {
        assert_eq!(Ttl::parse(Some("7-days")), Ok(Ttl::SevenDays));
        assert_eq!(
            Ttl::parse(Some("1-hour")).unwrap().duration(),
            Duration::hours(1)
        );
        assert_eq!(Ttl::parse(None), Err("ttl_blank"));
        assert_eq!(Ttl::parse(Some(" ")), Err("ttl_blank"));
        assert_eq!(Ttl::parse(Some("2-days")), Err("ttl_invalid"));
    }

    #[test]
    fn handle_accepts_at_prefix_and_lower_cases() {
        for raw in [
            "@andrewbrown",
            "andrewbrown",
            " @andrewbrown ",
            "AndrewBrown",
        ] {
            assert_eq!(
                Handle::parse(Some(raw), "blank_user_handle")
                    .unwrap()
                    .as_str(),
                "andrewbrown"
            );
        }
        for raw in [None, Some(""), Some("@"), Some("  ")] {
            assert_eq!(
                Handle::parse(raw, "blank_user_handle"),
                Err("blank_user_handle")
            );
        }
        assert_eq!(Handle::parse(Some("a_1"), "x").unwrap().as_str(), "a_1");
        assert!(Handle::parse(Some(&"a".repeat(15)), "x").is_ok());
    }

    #[test]
    fn look_alike_handles_are_not_handles() {
        for raw in [
            "wo\u{200b}rf",
            "ｗｏｒｆ",
            "worf\u{0}",
            "\u{202e}frow",
            "../../etc",
            "two words",
            "worf'; DROP TABLE users;--",
            "%40andrewbrown",
            "%2e%2e%2fadmin",
            "wörf",
            "worf.",
            "@@worf",
            &"a".repeat(16),
            &"x".repeat(100_000),
        ] {
            assert_eq!(
                Handle::parse(Some(raw), "blank_user_handle"),
                Err("user_handle_invalid"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn display_names_and_bios() {
        assert_eq!(
            DisplayName::parse(Some("  Worf  ")).unwrap().into_inner(),
            "Worf"
        );
        assert_eq!(DisplayName::parse(Some(" ")), Err("display_name_blank"));
        assert_eq!(DisplayName::parse(None), Err("display_name_blank"));
        assert!(DisplayName::parse(Some(&"é".repeat(60))).is_ok());
        assert_eq!(
            DisplayName::parse(Some(&"é".repeat(61))),
            Err("display_name_too_long")
        );
        for bad in ["Wo\u{200b}rf", "Worf\u{202e}", "Wo\nrf", "Worf\u{0}"] {
            assert_eq!(
                DisplayName::parse(Some(bad)),
                Err("display_name_invalid"),
                "{bad:?}"
            );
        }
        assert_eq!(
            Bio::parse(Some(" Line one\nline two "))
                .unwrap()
                .into_inner(),
            Some("Line one\nline two".to_owned())
        );
        assert_eq!(Bio::parse(Some("   ")).unwrap().into_inner(), None);
        assert_eq!(Bio::parse(None).unwrap().into_inner(), None);
        assert_eq!(Bio::parse(Some(&"b".repeat(301))), Err("bio_too_long"));
        assert_eq!(Bio::parse(Some("hi\u{202e}")), Err("bio_invalid"));
    }

    #[test]
    fn invisible_only_messages_are_blank() {
        for raw in [
            "\u{200b}",
            " \u{200b}\u{200d} ",
            "\u{202e}\u{2066}",
            "\u{feff}",
        ] {
            assert_eq!(
                ActivityMessage::parse(Some(raw)),
                Err("message_blank"),
                "{raw:?}"
            );
        }
        assert!(ActivityMessage::parse(Some("\u{200b}hi")).is_ok());
    }

    #[test]
    fn percent_decode_never_fails() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn search_term_limits() {
        assert_eq!(SearchTerm::parse(Some("  ")), Err("search_term_blank"));
        assert_eq!(
            SearchTerm::parse(Some(&"x".repeat(101))),
            Err("search_term_too_long")
        );
        assert_eq!(
            SearchTerm::parse(Some(" cloud ")).unwrap().as_str(),
            "cloud"
        );
    }

    #[test]
    fn demo_sub_matches_python_uuid5() {
        // uuid.uuid5(uuid.NAMESPACE_URL, "cruddur:demo:andrewbrown")
        assert_eq!(
            demo_cognito_sub("andrewbrown"),
            "c17b54ba-54c5-5ca9-82b6-70b8927cf096"
        );
    }
}
