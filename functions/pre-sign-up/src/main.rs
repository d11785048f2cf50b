//! Cognito pre-sign-up trigger: refuses a sign-up whose handle (`preferred_username`) breaks the
//! handle rule or is taken, or whose name a profile could not show, before the account exists.
//! The refusal is a code and a sentence the sign-up form shows.

use std::sync::Arc;

use cruddur_core::Store;
use cruddur_core::{check_sign_up, SignUp, TriggerError};
use cruddur_lambda::cognito::CognitoEventUserPoolsPreSignup;

type Event = CognitoEventUserPoolsPreSignup;

async fn handler(store: Arc<dyn Store>, event: Event) -> Result<Event, TriggerError> {
    let sign_up = SignUp::new(
        event.cognito_event_user_pools_header.user_name.as_deref(),
        &event.request.user_attributes,
    );
    check_sign_up(store.as_ref(), &sign_up).await?;
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
        serde_json::from_value(event_json(name)).expect("a pre-sign-up event")
    }

    #[tokio::test]
    async fn a_free_valid_handle_passes_unchanged() {
        let store = seeded_store().await;
        let out = handler(store, event("pre-sign-up")).await.unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap()["request"]["userAttributes"],
            event_json("pre-sign-up")["request"]["userAttributes"]
        );
    }

    #[tokio::test]
    async fn taken_and_look_alike_handles_are_refused_with_a_sentence() {
        let store = seeded_store().await;
        let err = handler(store.clone(), event("pre-sign-up-taken"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "user_handle_taken: That username is taken. Choose another."
        );
        let err = handler(store, event("pre-sign-up-bad-input"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "user_handle_invalid");
    }
}
