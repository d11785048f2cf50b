//! The contract every [`Store`] keeps, as a test suite any backend runs against itself:
//!
//! ```text
//! async fn seeded() -> Arc<dyn Store> { /* a fresh store with the demo data */ }
//! cruddur_core::store_contract_tests!(seeded);
//! ```
//!
//! Each case gets a fresh store seeded with the demo data by [`super::seed::seed_demo_data`].

use chrono::{Duration, Utc};
use uuid::Uuid;

use super::seed::{demo_user_uuid, CLOUD_IS_FUN, NO_HONOR_REPLY, PRUNE_JUICE, SIMPLE_TAILOR};
use super::{Page, PageRequest, Store, StoreError, StoreResult, UserCreation};
use crate::domain::{
    demo_cognito_sub, message_group_uuid, Activity, NewActivity, NewMessage, NewUser, SearchTerm,
    User,
};

/// Generates one `#[tokio::test]` per contract case, each on a store from `$make().await`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:path) => {
        $crate::store_contract_tests!(@cases $make;
            seeded_users_are_found_by_handle_and_sub,
            home_feed_is_newest_first_without_replies,
            pages_walk_every_activity_once,
            tampered_cursor_is_invalid,
            expired_activities_never_show,
            user_activities_and_cruds_count,
            home_feed_pages_are_one_newest_first_order,
            replies_page_oldest_first,
            conversation_pages_newest_first_shown_oldest_first,
            message_groups_page_by_latest_message,
            a_well_formed_cursor_only_moves_the_start,
            a_repeated_uuid_writes_nothing,
            search_is_case_insensitive_and_literal,
            activity_with_replies_lists_oldest_reply_first,
            reply_and_parent_count_change_together,
            reply_to_missing_parent_writes_nothing,
            creates_never_overwrite,
            user_creation_is_idempotent_by_sub,
            notifications_are_replies_by_others,
            messages_reach_both_users,
            activity_by_uuid_is_unexpired_only,
            conversation_partner_only_for_members,
            profile_update_shows_everywhere_the_user_is_read
        );
    };
    (@cases $make:path; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::Store> = $make().await;
                $crate::testing::contract::$case(store.as_ref()).await;
            }
        )*
    };
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

async fn user(store: &dyn Store, handle: &str) -> User {
    store
        .user_by_handle(handle)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{handle} missing"))
}

fn new_activity(message: &str, age: Duration) -> NewActivity {
    let created_at = Utc::now() - age;
    NewActivity {
        uuid: Uuid::new_v4(),
        message: message.to_owned(),
        created_at,
        expires_at: created_at + Duration::days(1),
    }
}

fn new_message(message: &str, age: Duration) -> NewMessage {
    NewMessage {
        uuid: Uuid::new_v4(),
        message: message.to_owned(),
        created_at: Utc::now() - age,
    }
}

async fn activity(store: &dyn Store, id: &str) -> Activity {
    store.activity(uuid(id)).await.unwrap().unwrap()
}

/// Every page of a list, following cursors (at most `max_pages`).
async fn walk<T, F, Fut>(max_pages: usize, read: F) -> Vec<Vec<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Page<T>>>,
{
    let mut pages = Vec::new();
    let mut request = PageRequest::first();
    loop {
        let page = read(request.clone()).await.unwrap();
        assert!(page.items.len() <= request.limit);
        pages.push(page.items);
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => return pages,
        }
        assert!(pages.len() < max_pages, "pagination does not end");
    }
}

fn lengths<T>(pages: &[Vec<T>]) -> Vec<usize> {
    pages.iter().map(Vec::len).collect()
}

fn uuids<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    items.iter().map(id).collect()
}

pub async fn seeded_users_are_found_by_handle_and_sub(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    assert_eq!(andrew.display_name, "Andrew Brown");
    assert_eq!(andrew.uuid, demo_user_uuid("andrewbrown"));
    let by_sub = store
        .user_by_cognito_sub(&demo_cognito_sub("worf"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_sub.handle, "worf");
    assert_eq!(user(store, "garek").await.display_name, "Garek");
    assert!(store.user_by_handle("nobody").await.unwrap().is_none());
    assert!(store
        .user_by_cognito_sub("no-such-sub")
        .await
        .unwrap()
        .is_none());
}

pub async fn home_feed_is_newest_first_without_replies(store: &dyn Store) {
    let page = store.home_feed(PageRequest::first()).await.unwrap();
    assert_eq!(
        uuids(&page.items, |a| a.uuid),
        [uuid(SIMPLE_TAILOR), uuid(CLOUD_IS_FUN), uuid(PRUNE_JUICE)]
    );
    assert_eq!(page.next_cursor, None);
    let fun = &page.items[1];
    assert_eq!(
        (fun.handle.as_str(), fun.display_name.as_str()),
        ("andrewbrown", "Andrew Brown")
    );
    assert_eq!(fun.message, "Cloud is very fun!");
    assert_eq!(fun.replies_count, 1);
    assert!(fun.expires_at > Utc::now());
}

pub async fn pages_walk_every_activity_once(store: &dyn Store) {
    let londo = user(store, "londo").await;
    let mut created = Vec::new();
    for i in 0..45 {
        // Some share a timestamp: the cursor must still neither skip nor repeat.
        let age = Duration::minutes(10 + i / 3);
        let activity = store
            .create_activity(&londo, new_activity(&format!("post {i}"), age))
            .await
            .unwrap();
        created.push(activity.uuid);
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first();
    page.limit = 20;
    let mut pages = 0;
    loop {
        let result = store.user_activities(&londo, page.clone()).await.unwrap();
        assert!(result.items.len() <= 20);
        seen.extend(uuids(&result.items, |a| a.uuid));
        pages += 1;
        match result.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let mut expected = created.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "every activity exactly once");
    let home = store.home_feed(PageRequest::first()).await.unwrap();
    assert_eq!(home.items.len(), 20);
    assert!(home.next_cursor.is_some());
}

pub async fn tampered_cursor_is_invalid(store: &dyn Store) {
    for cursor in ["garbage", "%%%", "eyJub3QiOiJ0aGlzIn0", ""] {
        let result = store
            .home_feed(PageRequest::after(Some(cursor.to_owned())))
            .await;
        if cursor.is_empty() {
            continue;
        }
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor}: {result:?}"
        );
    }
}

pub async fn expired_activities_never_show(store: &dyn Store) {
    let garek = user(store, "garek").await;
    let mut expired = new_activity("gone cloud", Duration::minutes(5));
    expired.expires_at = Utc::now() - Duration::minutes(1);
    let expired_uuid = expired.uuid;
    store.create_activity(&garek, expired).await.unwrap();
    let home = store.home_feed(PageRequest::first()).await.unwrap();
    assert!(!home.items.iter().any(|a| a.uuid == expired_uuid));
    let mine = store
        .user_activities(&garek, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(uuids(&mine.items, |a| a.uuid), [uuid(SIMPLE_TAILOR)]);
    // Counted on write; expiry does not count down (documented drift).
    assert_eq!(store.cruds_count(&garek).await.unwrap(), 2);
    let found = store
        .search(
            &SearchTerm::parse(Some("gone cloud")).unwrap(),
            PageRequest::first(),
        )
        .await
        .unwrap();
    assert!(found.items.is_empty());
    assert!(store
        .activity_with_replies(expired_uuid, PageRequest::first())
        .await
        .unwrap()
        .is_none());
}

pub async fn user_activities_and_cruds_count(store: &dyn Store) {
    let worf = user(store, "worf").await;
    let page = store
        .user_activities(&worf, PageRequest::first())
        .await
        .unwrap();
    // Worf's reply is not one of his cruds.
    assert_eq!(uuids(&page.items, |a| a.uuid), [uuid(PRUNE_JUICE)]);
    assert_eq!(store.cruds_count(&worf).await.unwrap(), 1);
    let bayko = user(store, "bayko").await;
    assert!(store
        .user_activities(&bayko, PageRequest::first())
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(store.cruds_count(&bayko).await.unwrap(), 0);
}

pub async fn search_is_case_insensitive_and_literal(store: &dyn Store) {
    let search = |term: &str| SearchTerm::parse(Some(term)).unwrap();
    let found = store
        .search(&search("CLOUD"), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(uuids(&found.items, |a| a.uuid), [uuid(CLOUD_IS_FUN)]);
    let found = store
        .search(&search("honor"), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        uuids(&found.items, |a| a.uuid),
        [uuid(NO_HONOR_REPLY)],
        "replies are searchable"
    );
    let found = store
        .search(&search("%"), PageRequest::first())
        .await
        .unwrap();
    assert!(found.items.is_empty(), "no wildcard matching");
}

pub async fn activity_with_replies_lists_oldest_reply_first(store: &dyn Store) {
    let garek = user(store, "garek").await;
    let parent = activity(store, CLOUD_IS_FUN).await;
    let later = new_activity("Plain and simple.", Duration::zero());
    store
        .create_reply(&garek, &parent, later.clone())
        .await
        .unwrap();
    let (activity, replies) = store
        .activity_with_replies(uuid(CLOUD_IS_FUN), PageRequest::first())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(activity.replies_count, 2);
    assert_eq!(
        uuids(&replies.items, |a| a.uuid),
        [uuid(NO_HONOR_REPLY), later.uuid]
    );
    assert_eq!(replies.next_cursor, None);
    assert_eq!(
        replies.items[0].reply_to_activity_uuid,
        Some(uuid(CLOUD_IS_FUN))
    );
    assert_eq!(replies.items[0].handle, "worf");
    assert!(store
        .activity_with_replies(Uuid::new_v4(), PageRequest::first())
        .await
        .unwrap()
        .is_none());
}

pub async fn reply_and_parent_count_change_together(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    let prune = activity(store, PRUNE_JUICE).await;
    let reply = new_activity("Try the replicator.", Duration::zero());
    let created = store
        .create_reply(&andrew, &prune, reply.clone())
        .await
        .unwrap();
    assert_eq!(created.reply_to_activity_uuid, Some(uuid(PRUNE_JUICE)));
    assert_eq!(created.message, "Try the replicator.");
    assert_eq!(
        store.activity(created.uuid).await.unwrap(),
        Some(created.clone())
    );
    let (parent, replies) = store
        .activity_with_replies(uuid(PRUNE_JUICE), PageRequest::first())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parent.replies_count, 1);
    assert_eq!(replies.items.len(), 1);
    // The same reply again is refused and the count stays.
    assert!(matches!(
        store.create_reply(&andrew, &prune, reply).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(activity(store, PRUNE_JUICE).await.replies_count, 1);
    // A reply to the reply counts on the reply, as read alone and as listed under its parent.
    let worf = user(store, "worf").await;
    store
        .create_reply(
            &worf,
            &created,
            new_activity("It is not.", Duration::zero()),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .activity(created.uuid)
            .await
            .unwrap()
            .unwrap()
            .replies_count,
        1
    );
    let (_, replies) = store
        .activity_with_replies(uuid(PRUNE_JUICE), PageRequest::first())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replies.items[0].replies_count, 1);
}

pub async fn reply_to_missing_parent_writes_nothing(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    // A parent read a moment ago that has expired (or been deleted) since.
    let mut gone = activity(store, PRUNE_JUICE).await;
    gone.uuid = Uuid::new_v4();
    let reply = new_activity("Into the void", Duration::zero());
    let orphan = reply.uuid;
    let result = store.create_reply(&andrew, &gone, reply).await;
    assert!(
        matches!(result, Err(StoreError::NotFound("activity_not_found"))),
        "{result:?}"
    );
    assert!(store.activity(orphan).await.unwrap().is_none());
    let mut expired = new_activity("short-lived", Duration::hours(1));
    expired.expires_at = Utc::now() - Duration::seconds(1);
    let expired = store.create_activity(&andrew, expired).await.unwrap();
    let result = store
        .create_reply(
            &andrew,
            &expired,
            new_activity("too late", Duration::zero()),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound("activity_not_found"))),
        "{result:?}"
    );
}

pub async fn creates_never_overwrite(store: &dyn Store) {
    let garek = user(store, "garek").await;
    let mut copy = new_activity("overwritten!", Duration::zero());
    copy.uuid = uuid(CLOUD_IS_FUN);
    assert!(matches!(
        store.create_activity(&garek, copy).await,
        Err(StoreError::Conflict(_))
    ));
    let kept = activity(store, CLOUD_IS_FUN).await;
    assert_eq!(kept.message, "Cloud is very fun!");
    assert_eq!(kept.handle, "andrewbrown");
    assert_eq!(
        store.cruds_count(&garek).await.unwrap(),
        1,
        "nothing counted"
    );
}

pub async fn user_creation_is_idempotent_by_sub(store: &dyn Store) {
    let new = NewUser {
        uuid: Uuid::new_v4(),
        handle: "quark".to_owned(),
        display_name: "Quark".to_owned(),
        email: Some("quark@example.com".to_owned()),
        bio: None,
        cognito_user_id: "sub-quark".to_owned(),
        created_at: Utc::now(),
    };
    let created = match store.create_user(new.clone()).await.unwrap() {
        UserCreation::Created(user) => user,
        other => panic!("{other:?}"),
    };
    assert_eq!(created.handle, "quark");
    // A replayed trigger (new uuid, same sub) finds the user and writes nothing.
    let replay = NewUser {
        uuid: Uuid::new_v4(),
        ..new.clone()
    };
    match store.create_user(replay).await.unwrap() {
        UserCreation::AlreadyExists(user) => assert_eq!(user.uuid, created.uuid),
        other => panic!("{other:?}"),
    }
    // Another sub cannot take the handle.
    let squatter = NewUser {
        uuid: Uuid::new_v4(),
        cognito_user_id: "sub-other".to_owned(),
        ..new
    };
    let result = store.create_user(squatter).await;
    assert!(
        matches!(result, Err(StoreError::Conflict("user_handle_taken"))),
        "{result:?}"
    );
    assert!(store
        .user_by_cognito_sub("sub-other")
        .await
        .unwrap()
        .is_none());
}

pub async fn notifications_are_replies_by_others(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    let fun = activity(store, CLOUD_IS_FUN).await;
    store
        .create_reply(
            &andrew,
            &fun,
            new_activity("Replying to myself", Duration::zero()),
        )
        .await
        .unwrap();
    let page = store
        .notifications(&andrew, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(uuids(&page.items, |a| a.uuid), [uuid(NO_HONOR_REPLY)]);
    let worf = user(store, "worf").await;
    assert!(store
        .notifications(&worf, PageRequest::first())
        .await
        .unwrap()
        .items
        .is_empty());
}

pub async fn messages_reach_both_users(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    let worf = user(store, "worf").await;
    let garek = user(store, "garek").await;
    let groups = store
        .message_groups(&andrew, PageRequest::first())
        .await
        .unwrap()
        .items;
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].handle.as_str(), groups[0].message.as_str()),
        ("worf", "This platform is great!")
    );

    let sent = store
        .create_message(
            &garek,
            &andrew,
            new_message("Stitches are a tailor's business.", Duration::zero()),
        )
        .await
        .unwrap();
    assert_eq!(store.message(sent.uuid).await.unwrap(), Some(sent.clone()));
    assert!(store.message(Uuid::new_v4()).await.unwrap().is_none());
    assert_eq!(
        (sent.handle.as_str(), sent.display_name.as_str()),
        ("garek", "Garek")
    );

    let groups = store
        .message_groups(&andrew, PageRequest::first())
        .await
        .unwrap()
        .items;
    assert_eq!(
        groups.iter().map(|g| g.handle.as_str()).collect::<Vec<_>>(),
        ["garek", "worf"],
        "newest conversation first"
    );
    assert_eq!(groups[0].uuid, sent.message_group_uuid);
    let garek_groups = store
        .message_groups(&garek, PageRequest::first())
        .await
        .unwrap()
        .items;
    assert_eq!(garek_groups.len(), 1);
    assert_eq!(garek_groups[0].handle, "andrewbrown");
    assert_eq!(garek_groups[0].message, "Stitches are a tailor's business.");

    let conversation = store
        .messages_between(&andrew, &worf, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(conversation.next_cursor, None);
    let conversation = conversation.items;
    assert_eq!(
        conversation
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>(),
        ["Cloud is fun!", "This platform is great!"],
        "oldest first"
    );
    assert_eq!(
        store
            .messages_between(&worf, &andrew, PageRequest::first())
            .await
            .unwrap()
            .items,
        conversation
    );
    assert!(store
        .messages_between(&worf, &garek, PageRequest::first())
        .await
        .unwrap()
        .items
        .is_empty());
    // The same message again is refused, and the conversation keeps one copy.
    let again = NewMessage {
        uuid: sent.uuid,
        ..new_message("Stitches are a tailor's business.", Duration::zero())
    };
    assert!(matches!(
        store.create_message(&garek, &andrew, again).await,
        Err(StoreError::Conflict(_))
    ));
    let garek_and_andrew = store
        .messages_between(&garek, &andrew, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(garek_and_andrew.items.len(), 1);
}

pub async fn activity_by_uuid_is_unexpired_only(store: &dyn Store) {
    let fun = store.activity(uuid(CLOUD_IS_FUN)).await.unwrap().unwrap();
    assert_eq!(fun.message, "Cloud is very fun!");
    assert_eq!(fun.replies_count, 1);
    let reply = store.activity(uuid(NO_HONOR_REPLY)).await.unwrap().unwrap();
    assert_eq!(reply.reply_to_activity_uuid, Some(uuid(CLOUD_IS_FUN)));
    assert!(store.activity(Uuid::new_v4()).await.unwrap().is_none());
    let londo = user(store, "londo").await;
    let expired = NewActivity {
        expires_at: Utc::now() - Duration::seconds(1),
        ..new_activity("gone", Duration::hours(2))
    };
    store
        .create_activity(&londo, expired.clone())
        .await
        .unwrap();
    assert!(store.activity(expired.uuid).await.unwrap().is_none());
}

pub async fn conversation_partner_only_for_members(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    let worf = user(store, "worf").await;
    let garek = user(store, "garek").await;
    let group = message_group_uuid(andrew.uuid, worf.uuid);
    let partner = |u: User, g: Uuid| async move { store.conversation_partner(&u, g).await };
    assert_eq!(
        partner(andrew.clone(), group)
            .await
            .unwrap()
            .unwrap()
            .handle,
        "worf"
    );
    assert_eq!(
        partner(worf.clone(), group).await.unwrap().unwrap().handle,
        "andrewbrown"
    );
    assert!(
        partner(garek.clone(), group).await.unwrap().is_none(),
        "not a member"
    );
    assert!(partner(andrew.clone(), Uuid::new_v4())
        .await
        .unwrap()
        .is_none());
    // A group that would exist between two users, before either wrote, is no group.
    let unwritten = message_group_uuid(andrew.uuid, garek.uuid);
    assert!(partner(andrew, unwritten).await.unwrap().is_none());
}

pub async fn profile_update_shows_everywhere_the_user_is_read(store: &dyn Store) {
    let bayko = user(store, "bayko").await;
    let updated = store
        .update_profile(
            &bayko,
            "Bayko the Builder".into(),
            Some("Builds things.".into()),
        )
        .await
        .unwrap();
    assert_eq!(updated.display_name, "Bayko the Builder");
    assert_eq!(updated.bio.as_deref(), Some("Builds things."));
    assert_eq!(updated.uuid, bayko.uuid);
    for found in [
        store.user_by_handle("bayko").await.unwrap().unwrap(),
        store
            .user_by_cognito_sub(&demo_cognito_sub("bayko"))
            .await
            .unwrap()
            .unwrap(),
    ] {
        assert_eq!(found, updated);
    }
    let created = store
        .create_activity(&updated, new_activity("renamed", Duration::zero()))
        .await
        .unwrap();
    assert_eq!(created.display_name, "Bayko the Builder");
    let cleared = store
        .update_profile(&updated, "Andrew Bayko".into(), None)
        .await
        .unwrap();
    assert_eq!(cleared.bio, None);
    assert_eq!(
        store.user_by_handle("bayko").await.unwrap().unwrap().bio,
        None
    );
}

/// Newest first, ties broken by uuid (descending), as every store orders activities.
fn newest_first(activities: &mut [Activity]) {
    activities.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.uuid)));
}

pub async fn home_feed_pages_are_one_newest_first_order(store: &dyn Store) {
    let mut expected = store.home_feed(PageRequest::first()).await.unwrap().items;
    let now = Utc::now();
    for (i, handle) in ["londo", "garek", "bayko", "altbrown", "worf"]
        .iter()
        .enumerate()
    {
        let author = user(store, handle).await;
        for j in 0..13 {
            // Shared timestamps across authors: the order falls back to the uuid.
            let created_at = now - Duration::seconds(30 + ((i + j) % 9) as i64);
            let new = NewActivity {
                created_at,
                expires_at: created_at + Duration::days(1),
                ..new_activity(&format!("{handle} {j}"), Duration::zero())
            };
            expected.push(store.create_activity(&author, new).await.unwrap());
        }
        // A reply is never in the home feed, however new.
        let parent = expected.last().unwrap().clone();
        store
            .create_reply(&author, &parent, new_activity("a reply", Duration::zero()))
            .await
            .unwrap();
    }
    newest_first(&mut expected);
    let pages = walk(10, |page| store.home_feed(page)).await;
    assert_eq!(lengths(&pages), [20, 20, 20, 8]);
    let got: Vec<Uuid> = pages.concat().iter().map(|a| a.uuid).collect();
    assert_eq!(got, uuids(&expected, |a| a.uuid), "one order across pages");
}

pub async fn replies_page_oldest_first(store: &dyn Store) {
    let fun = activity(store, CLOUD_IS_FUN).await;
    let bayko = user(store, "bayko").await;
    let mut expected = vec![activity(store, NO_HONOR_REPLY).await.uuid];
    for i in 0..44 {
        let reply = store
            .create_reply(
                &bayko,
                &fun,
                new_activity(&format!("reply {i}"), Duration::seconds(100 - i)),
            )
            .await
            .unwrap();
        expected.push(reply.uuid);
    }
    let pages = walk(10, |page| async {
        Ok(store
            .activity_with_replies(fun.uuid, page)
            .await?
            .expect("the activity")
            .1)
    })
    .await;
    assert_eq!(lengths(&pages), [20, 20, 5]);
    assert_eq!(
        uuids(&pages.concat(), |a| a.uuid),
        expected,
        "oldest first, the cursor leads to later ones"
    );
    assert_eq!(activity(store, CLOUD_IS_FUN).await.replies_count, 45);
}

pub async fn conversation_pages_newest_first_shown_oldest_first(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    let worf = user(store, "worf").await;
    let mut texts = vec![
        "Cloud is fun!".to_owned(),
        "This platform is great!".to_owned(),
    ];
    for i in 0..43 {
        let (from, to) = if i % 2 == 0 {
            (&andrew, &worf)
        } else {
            (&worf, &andrew)
        };
        let text = format!("message {i}");
        store
            .create_message(from, to, new_message(&text, Duration::seconds(100 - i)))
            .await
            .unwrap();
        texts.push(text);
    }
    let pages = walk(10, |page| store.messages_between(&worf, &andrew, page)).await;
    assert_eq!(lengths(&pages), [20, 20, 5]);
    let shown = |page: &Vec<crate::domain::Message>| {
        page.iter().map(|m| m.message.clone()).collect::<Vec<_>>()
    };
    // The first page is the newest 20, oldest first; each next page is older.
    assert_eq!(shown(&pages[0]), texts[25..]);
    assert_eq!(shown(&pages[1]), texts[5..25]);
    assert_eq!(shown(&pages[2]), texts[..5]);
}

pub async fn message_groups_page_by_latest_message(store: &dyn Store) {
    let andrew = user(store, "andrewbrown").await;
    let mut expected = Vec::new();
    for i in 0..24 {
        let other = store
            .create_user(NewUser {
                uuid: Uuid::new_v4(),
                handle: format!("pen_pal_{i}"),
                display_name: format!("Pen Pal {i}"),
                email: None,
                bio: None,
                cognito_user_id: format!("sub-pen-pal-{i}"),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        let (UserCreation::Created(other) | UserCreation::AlreadyExists(other)) = other;
        store
            .create_message(
                &other,
                &andrew,
                new_message("hello", Duration::seconds(60 - i)),
            )
            .await
            .unwrap();
        expected.push(other.handle);
    }
    // Writing again moves a conversation to the top.
    let first = user(store, "pen_pal_0").await;
    store
        .create_message(&andrew, &first, new_message("hi again", Duration::zero()))
        .await
        .unwrap();
    expected.reverse();
    expected.retain(|h| h != "pen_pal_0");
    expected.insert(0, "pen_pal_0".to_owned());
    expected.push("worf".to_owned());
    let pages = walk(10, |page| store.message_groups(&andrew, page)).await;
    assert_eq!(lengths(&pages), [20, 5]);
    let handles: Vec<String> = pages.concat().into_iter().map(|g| g.handle).collect();
    assert_eq!(handles, expected);
}

pub async fn a_well_formed_cursor_only_moves_the_start(store: &dyn Store) {
    // A cursor names a position, not a list: one from another list (or made by hand) starts
    // this list there, and shows nothing the caller could not read anyway.
    let garek = user(store, "garek").await;
    let three_days_ago = super::cursor::Position::of(Utc::now() - Duration::days(3), Uuid::nil());
    let page = store
        .user_activities(&garek, PageRequest::after(Some(three_days_ago.encode())))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "{page:?}");
    let home = store
        .home_feed(PageRequest::after(Some(three_days_ago.encode())))
        .await
        .unwrap();
    assert_eq!(uuids(&home.items, |a| a.uuid), [uuid(PRUNE_JUICE)]);
}

pub async fn a_repeated_uuid_writes_nothing(store: &dyn Store) {
    let worf = user(store, "worf").await;
    let new = new_activity("Today is a good day.", Duration::zero());
    let created = store.create_activity(&worf, new.clone()).await.unwrap();
    assert_eq!(store.activity(new.uuid).await.unwrap(), Some(created));
    assert_eq!(store.cruds_count(&worf).await.unwrap(), 2);
    let result = store.create_activity(&worf, new).await;
    assert!(
        matches!(result, Err(StoreError::Conflict("activity_exists"))),
        "{result:?}"
    );
    assert_eq!(store.cruds_count(&worf).await.unwrap(), 2, "counted once");
    let mine = store
        .user_activities(&worf, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 2);
}
