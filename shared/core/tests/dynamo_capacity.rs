//! The capacity budget per endpoint, measured on DynamoDB Local with `ReturnConsumedCapacity`:
//! each endpoint's representative request, edge included (the caller's lookup), consumes at most
//! its budget of read and write units. docs/storage.md shows this table.
//!
//! The table holds a realistic amount of data around the requests (hundreds of ~0.75 KB
//! activities over the feed's 32 shards, a thread and a conversation longer than a page), so
//! every list read is a real page.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use cruddur_core::routes::TableAccess;
use cruddur_core::testing::seed::{seed_demo_data, CLOUD_IS_FUN};
use cruddur_core::testing::App;
use cruddur_core::testing::{dynamo_client, dynamo_store, event, TestApp};
use cruddur_core::testing::{Capacity, PageRequest, Traced};
use cruddur_core::testing::{NewActivity, NewMessage, User};
use cruddur_core::{check_sign_up, confirm_sign_up, SignUp};
use cruddur_core::{handlers, routes, Config};
use cruddur_core::{DynamoStore, Store};
use lambda_testkit::dynamo_local;
use uuid::Uuid;

/// (endpoint, read units, write units): what one representative request may consume.
const BUDGET: [(&str, f64, f64); 15] = [
    ("home-activities", 24.0, 0.0),
    ("user-activities", 4.0, 0.0),
    ("search-activities", 100.0, 0.0),
    ("show-activity", 8.0, 0.0),
    ("notifications-activities", 5.0, 0.0),
    ("create-activity", 2.0, 10.0),
    ("create-reply", 3.0, 14.0),
    ("create-reply-by-uuid", 3.0, 14.0),
    ("message-groups", 3.0, 0.0),
    ("messages", 6.0, 0.0),
    ("create-message", 3.0, 10.0),
    ("users-short", 2.0, 0.0),
    ("update-profile", 2.0, 4.0),
    ("pre-sign-up", 1.0, 0.0),
    ("post-confirmation", 1.0, 4.0),
];

/// A message of about the size the budget assumes (a 0.75 KB item with its attributes).
fn long_message(i: usize) -> String {
    format!("{i:04} {}", "Rust on Lambda, traced end to end. ".repeat(7))
}

async fn user(store: &dyn Store, handle: &str) -> User {
    store.user_by_handle(handle).await.unwrap().unwrap()
}

/// The demo data, 240 more activities across five authors, a thread of 30 replies and a
/// conversation of 30 messages.
async fn populated(store: &DynamoStore) {
    seed_demo_data(store, Utc::now()).await.unwrap();
    let now = Utc::now();
    let authors = ["worf", "garek", "bayko", "londo", "altbrown"];
    let mut users = HashMap::new();
    for handle in authors.iter().chain(&["andrewbrown"]) {
        users.insert(*handle, user(store, handle).await);
    }
    for i in 0..240 {
        let created_at = now - Duration::seconds(i as i64 * 7);
        store
            .create_activity(
                &users[authors[i % authors.len()]],
                NewActivity {
                    uuid: Uuid::new_v4(),
                    message: long_message(i),
                    created_at,
                    expires_at: created_at + Duration::days(7),
                },
            )
            .await
            .unwrap();
    }
    let parent = store
        .activity(CLOUD_IS_FUN.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    for i in 0..30 {
        let reply = NewActivity {
            uuid: Uuid::new_v4(),
            message: long_message(i),
            created_at: now - Duration::seconds(100 - i as i64),
            expires_at: parent.expires_at,
        };
        let author = &users[authors[i % 2]];
        store.create_reply(author, &parent, reply).await.unwrap();
    }
    for i in 0..30 {
        let (from, to) = if i % 2 == 0 {
            ("andrewbrown", "worf")
        } else {
            ("worf", "andrewbrown")
        };
        let message = NewMessage {
            uuid: Uuid::new_v4(),
            message: long_message(i),
            created_at: now - Duration::seconds(100 - i as i64),
        };
        store
            .create_message(&users[from], &users[to], message)
            .await
            .unwrap();
    }
}

fn trigger_access(function: &str) -> TableAccess {
    routes::TRIGGERS
        .iter()
        .find(|t| t.function == function)
        .expect("a trigger of the route table")
        .access
}

fn sign_up(event_name: &str) -> SignUp {
    let event = cruddur_core::testing::event_json(event_name);
    let attributes: HashMap<String, String> =
        serde_json::from_value(event["request"]["userAttributes"].clone()).unwrap();
    SignUp::new(event["userName"].as_str(), &attributes)
}

#[tokio::test]
async fn every_endpoint_stays_within_its_capacity_budget() {
    let store = dynamo_store(dynamo_local().endpoint()).await;
    populated(&store).await;
    let meter = store.capacity();
    meter.take();
    let store: Arc<dyn Store> = Arc::new(Traced(store));
    let app = TestApp {
        app: App::with_store(Config::default(), store.clone()),
        store: store.clone(),
    };
    let mut measured: Vec<(&str, TableAccess, Capacity, u16)> = Vec::new();

    // The functions' own handlers, each with its row of the route table and its event.
    macro_rules! measure {
        ($($endpoint:ident => $handler:ident),* $(,)?) => {$(
            let endpoint = routes::$endpoint;
            let res = app
                .call(endpoint, handlers::$handler, event(endpoint.function))
                .await;
            measured.push((endpoint.function, endpoint.access, meter.take(), res.status));
        )*};
    }
    measure!(
        HOME_ACTIVITIES => home_activities,
        USER_ACTIVITIES => user_activities,
        SEARCH_ACTIVITIES => search_activities,
        SHOW_ACTIVITY => show_activity,
        NOTIFICATIONS_ACTIVITIES => notifications_activities,
        CREATE_ACTIVITY => create_activity,
        CREATE_REPLY => create_reply,
        CREATE_REPLY_BY_UUID => create_reply_by_uuid,
        MESSAGE_GROUPS => message_groups,
        MESSAGES => messages,
        CREATE_MESSAGE => create_message,
        USERS_SHORT => users_short,
        UPDATE_PROFILE => update_profile,
    );
    check_sign_up(store.as_ref(), &sign_up("pre-sign-up"))
        .await
        .unwrap();
    measured.push((
        "pre-sign-up",
        trigger_access("pre-sign-up"),
        meter.take(),
        200,
    ));
    confirm_sign_up(store.as_ref(), &sign_up("post-confirmation"))
        .await
        .unwrap();
    measured.push((
        "post-confirmation",
        trigger_access("post-confirmation"),
        meter.take(),
        200,
    ));

    let mut table = String::from("| endpoint | read units | write units |\n|---|---|---|\n");
    for (name, access, used, status) in &measured {
        assert_eq!(*status, 200, "{name} answered {status}");
        // What the store did is what the template's policy for this function allows.
        for action in &used.actions {
            assert!(
                access.actions().contains(action),
                "{name} calls {action}, which its {access:?} policy does not grant"
            );
        }
        table.push_str(&format!(
            "| {name} | {} | {} |\n",
            used.read_units, used.write_units
        ));
    }
    eprintln!("consumed capacity per request:\n{table}");
    for (name, reads, writes) in BUDGET {
        let (_, _, used, _) = measured
            .iter()
            .find(|(n, _, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} not measured"));
        assert!(
            used.read_units <= reads && used.write_units <= writes,
            "{name} consumed {used:?}, over its budget of {reads} RCU / {writes} WCU\n{table}"
        );
        assert!(
            used.read_units + used.write_units > 0.0,
            "{name} consumed nothing: the meter is not counting"
        );
    }
    assert_eq!(measured.len(), BUDGET.len());
    // A new endpoint that uses the table is measured and budgeted here too.
    let uses_table = routes::ENDPOINTS
        .iter()
        .map(|e| (e.function, e.access))
        .chain(routes::TRIGGERS.iter().map(|t| (t.function, t.access)))
        .filter(|(_, access)| *access != TableAccess::None);
    for (function, _) in uses_table {
        assert!(
            BUDGET.iter().any(|(name, _, _)| *name == function),
            "{function} uses the table but has no capacity budget: add it to BUDGET and to the requests measured above"
        );
    }
}

/// DynamoDB deletes expired items lazily (up to days later). Hundreds of activities that have
/// expired but are still in the table, all newer than the live ones, cost a home-feed page a
/// bounded number of reads: the page may come back short, with a cursor, and paging on finds
/// every live activity.
#[tokio::test]
async fn expired_items_awaiting_ttl_deletion_cost_bounded_reads() {
    let store = dynamo_store(dynamo_local().endpoint()).await;
    seed_demo_data(&store, Utc::now()).await.unwrap();
    let londo = user(&store, "londo").await;
    let now = Utc::now();
    let mut live = Vec::new();
    for i in 0..20 {
        let created_at = now - Duration::hours(2) - Duration::seconds(i);
        let created = store
            .create_activity(
                &londo,
                NewActivity {
                    uuid: Uuid::new_v4(),
                    message: long_message(i as usize),
                    created_at,
                    expires_at: now + Duration::days(1),
                },
            )
            .await
            .unwrap();
        live.push(created.uuid);
    }
    for i in 0..600 {
        // Expired a minute ago; TTL has not deleted them yet.
        let created_at = now - Duration::seconds(i);
        store
            .create_activity(
                &londo,
                NewActivity {
                    uuid: Uuid::new_v4(),
                    message: long_message(i as usize),
                    created_at,
                    expires_at: now - Duration::minutes(1),
                },
            )
            .await
            .unwrap();
    }
    let table_items = dynamo_client(dynamo_local().endpoint())
        .scan()
        .table_name(store.table())
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count;
    assert!(
        table_items > 600,
        "the expired items are still in the table"
    );

    let meter = store.capacity();
    meter.take();
    let mut seen = Vec::new();
    let mut page = PageRequest::first();
    let mut pages = 0;
    let mut most = 0.0f64;
    loop {
        let result = store.home_feed(page.clone()).await.unwrap();
        let used = meter.take();
        most = most.max(used.read_units);
        assert!(
            used.read_units <= 120.0,
            "page {pages} read {} units",
            used.read_units
        );
        assert!(result.items.iter().all(|a| a.expires_at > Utc::now()));
        seen.extend(result.items.iter().map(|a| a.uuid));
        pages += 1;
        match result.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
        assert!(pages < 30, "paging past expired items must end");
    }
    for uuid in &live {
        assert!(seen.contains(uuid), "a live activity was skipped");
    }
    eprintln!("{pages} home-feed pages past 600 expired items, at most {most} read units a page");
}
