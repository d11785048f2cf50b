//! Cognito post-confirmation trigger: creates the Cruddur user for a confirmed sign-up. Replays
//! are harmless; the event is handed back to Cognito unchanged. A refusal is a code and a
//! sentence (Cognito shows it to the person signing up), never internals.

use std::sync::Arc;

use cruddur_core::Store;
use cruddur_core::{confirm_sign_up, SignUp, TriggerError};
use cruddur_lambda::cognito::CognitoEventUserPoolsPostConfirmation;

type Event = CognitoEventUserPoolsPostConfirmation;

async fn handler(store: Arc<dyn Store>, event: Event) -> Result<Event, TriggerError> {
    let sign_up = SignUp::new(
        event.cognito_event_user_pools_header.user_name.as_deref(),
        &event.request.user_attributes,
    );
    confirm_sign_up(store.as_ref(), &sign_up).await?;
    Ok(event)
}

fn main() -> Result<(), cruddur_lambda::Error> {
    cruddur_lambda::serve_trigger(handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event_json, seeded_store};

    fn event(name: &str) -> Event {
        serde_json::from_value(event_json(name)).expect("a post-confirmation event")
    }

    #[tokio::test]
    async fn creates_the_user_and_returns_the_event() {
        let store = seeded_store().await;
        let out = handler(store.clone(), event("post-confirmation"))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap()["userName"],
            event_json("post-confirmation")["userName"]
        );
        let quark = store.user_by_handle("quark").await.unwrap().unwrap();
        assert_eq!(quark.display_name, "Quark");
        assert_eq!(
            quark.cognito_user_id.as_deref(),
            Some("7f5e7a3c-0b5e-4a8e-9d4e-5c2b9e1f0a11")
        );
        // Cognito retries a trigger that timed out: the replay changes nothing.
        handler(store.clone(), event("post-confirmation"))
            .await
            .unwrap();
        let again = store.user_by_handle("quark").await.unwrap().unwrap();
        assert_eq!(again.uuid, quark.uuid);
        handler(store, event("post-confirmation-replay"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn refusals_are_codes_and_sentences() {
        let store = seeded_store().await;
        let err = handler(store.clone(), event("post-confirmation-bad-input"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "sub_blank");
        let mut taken = event_json("post-confirmation");
        taken["request"]["userAttributes"]["preferred_username"] = "Worf".into();
        let err = handler(store, serde_json::from_value(taken).unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "user_handle_taken: That username is taken. Choose another."
        );
    }
}
