//! Cognito post-confirmation trigger: creates the Cruddur user for a confirmed sign-up.
//! Replays are harmless; the event is handed back to Cognito unchanged.

use std::sync::Arc;

use cruddur_core::services::{self, ConfirmedSignUp};
use cruddur_core::App;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

async fn handler(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let store = app.store().await?;
    let sign_up = ConfirmedSignUp::from_cognito_event(&event.payload);
    // Cognito shows a failed trigger to the user signing up: send codes, never internals.
    services::confirm_sign_up(store.as_ref(), sign_up)
        .await
        .map_err(|err| format!("sign-up not recorded: {}", err.codes().join(",")))?;
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = Arc::new(App::from_env());
    cruddur_telemetry::run_events(move |event| {
        let app = app.clone();
        async move { handler(&app, event).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruddur_core::testing::{event_json, seeded_store};
    use cruddur_core::Config;

    async fn app() -> App {
        App::with_store(Config::default(), seeded_store().await)
    }

    fn invoke(name: &str) -> LambdaEvent<Value> {
        LambdaEvent::new(event_json(name), lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn creates_the_user_and_returns_the_event() {
        let app = app().await;
        let out = handler(&app, invoke("post-confirmation")).await.unwrap();
        assert_eq!(out, event_json("post-confirmation"));
        let store = app.store().await.unwrap();
        let quark = store.user_by_handle("quark").await.unwrap().unwrap();
        assert_eq!(quark.display_name, "Quark");
        assert_eq!(
            quark.cognito_user_id.as_deref(),
            Some("7f5e7a3c-0b5e-4a8e-9d4e-5c2b9e1f0a11")
        );
        // Cognito retries a trigger that timed out: the replay changes nothing.
        handler(&app, invoke("post-confirmation")).await.unwrap();
        let again = store.user_by_handle("quark").await.unwrap().unwrap();
        assert_eq!(again.uuid, quark.uuid);
    }

    #[tokio::test]
    async fn replay_for_existing_user_is_fine() {
        let app = app().await;
        handler(&app, invoke("post-confirmation-replay"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn bad_event_is_a_clear_error() {
        let app = app().await;
        let err = handler(&app, invoke("post-confirmation-bad-input"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sign-up not recorded: sub_blank,user_handle_blank"
        );
        let mut taken = event_json("post-confirmation");
        taken["request"]["userAttributes"]["preferred_username"] = "worf".into();
        let err = handler(&app, LambdaEvent::new(taken, Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "sign-up not recorded: user_handle_taken");
    }
}
