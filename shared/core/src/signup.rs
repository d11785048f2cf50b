//! Signing up: the Cognito triggers around a new account. Pre-sign-up refuses a handle or name
//! that could never become a Cruddur user (before the account exists, so nobody is left with a
//! Cognito account and no Cruddur user); post-confirmation creates the user, and only a race
//! between two sign-ups of one handle can still refuse it, which the conditional write settles.
//!
//! Cognito shows a trigger's error to the person signing up, so errors are a stable code and a
//! sentence for them ([`TriggerError`]); causes go to the log only.

use std::collections::HashMap;

use chrono::Utc;
use lambda_http::lambda_runtime::Diagnostic;
use uuid::Uuid;

use crate::domain::{DisplayName, Handle, NewUser};
use crate::error::{error_chain, ApiError};
use crate::store::{Store, StoreError, UserCreation};

/// A sign-up as a Cognito trigger describes it: its user attributes and user name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignUp {
    /// The account's Cognito `sub` (known once the account exists, so not at pre-sign-up).
    pub sub: Option<String>,
    pub preferred_username: Option<String>,
    pub cognito_username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl SignUp {
    /// From a trigger's `userName` and `request.userAttributes`.
    pub fn new(user_name: Option<&str>, attributes: &HashMap<String, String>) -> Self {
        let attribute = |name: &str| attributes.get(name).cloned();
        Self {
            sub: attribute("sub"),
            preferred_username: attribute("preferred_username"),
            cognito_username: user_name.map(str::to_owned),
            name: attribute("name"),
            email: attribute("email"),
        }
    }

    /// The handle: `preferred_username`, else the Cognito user name.
    fn handle(&self) -> Result<Handle, &'static str> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        Handle::parse(
            given(&self.preferred_username).or(given(&self.cognito_username)),
            "user_handle_blank",
        )
    }

    /// The display name: `name`, else the handle.
    fn display_name(&self, handle: &Handle) -> Result<String, &'static str> {
        match self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(name) => DisplayName::parse(Some(name)).map(DisplayName::into_inner),
            None => Ok(handle.as_str().to_owned()),
        }
    }
}

/// A refused sign-up: a stable code and a sentence for the person signing up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {sentence}")]
pub struct TriggerError {
    pub code: &'static str,
    pub sentence: &'static str,
}

impl TriggerError {
    pub fn new(code: &'static str) -> Self {
        let sentence = match code {
            "user_handle_blank" => "Choose a username: 1 to 15 letters, digits or underscores.",
            "user_handle_invalid" => {
                "A username has 1 to 15 letters (a to z), digits or underscores, and nothing else."
            }
            "user_handle_taken" => "That username is taken. Choose another.",
            "display_name_too_long" => "A name has at most 60 characters.",
            "display_name_invalid" => {
                "A name cannot contain control, invisible or text-direction characters."
            }
            "sub_blank" => "The sign-up carries no user id. Try again.",
            "user_exists" => "This account already exists.",
            _ => "Cruddur cannot complete your sign-up right now. Try again in a moment.",
        };
        Self { code, sentence }
    }
}

impl From<ApiError> for TriggerError {
    fn from(err: ApiError) -> Self {
        if let ApiError::ServiceUnavailable(source) = &err {
            tracing::error!(error.type = "ServiceUnavailable", error = %error_chain(source.as_ref()), "store unavailable");
        }
        match err.codes().first() {
            Some(code) if !matches!(err, ApiError::ServiceUnavailable(_)) => Self::new(code),
            _ => Self::new("service_unavailable"),
        }
    }
}

impl From<StoreError> for TriggerError {
    fn from(err: StoreError) -> Self {
        ApiError::from(err).into()
    }
}

impl From<TriggerError> for Diagnostic {
    fn from(err: TriggerError) -> Self {
        Diagnostic {
            error_type: err.code.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// Pre-sign-up: the handle follows the rule and is free, the name is one a profile can show.
pub async fn check_sign_up(store: &dyn Store, sign_up: &SignUp) -> Result<(), TriggerError> {
    let handle = sign_up.handle().map_err(TriggerError::new)?;
    sign_up.display_name(&handle).map_err(TriggerError::new)?;
    if store.user_by_handle(handle.as_str()).await?.is_some() {
        tracing::info!(
            handle = handle.as_str(),
            "sign-up refused: the handle is taken"
        );
        return Err(TriggerError::new("user_handle_taken"));
    }
    Ok(())
}

/// Post-confirmation: creates the Cruddur user of a confirmed sign-up. Replays are harmless;
/// a handle taken since pre-sign-up (two sign-ups racing for it) is refused by the conditional
/// write, and the loser is told so.
pub async fn confirm_sign_up(
    store: &dyn Store,
    sign_up: &SignUp,
) -> Result<UserCreation, TriggerError> {
    let sub = sign_up
        .sub
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(TriggerError::new("sub_blank"))?;
    let handle = sign_up.handle().map_err(TriggerError::new)?;
    let display_name = sign_up.display_name(&handle).map_err(TriggerError::new)?;
    let created = store
        .create_user(NewUser {
            uuid: Uuid::new_v4(),
            display_name,
            handle: handle.as_str().to_owned(),
            email: sign_up.email.clone().filter(|e| !e.trim().is_empty()),
            bio: None,
            cognito_user_id: sub.to_owned(),
            created_at: Utc::now(),
        })
        .await?;
    match &created {
        UserCreation::Created(user) => tracing::info!(user_id = %user.uuid, "user created"),
        UserCreation::AlreadyExists(user) => {
            tracing::info!(user_id = %user.uuid, "user already exists")
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::seeded_store;

    fn sign_up(pairs: &[(&str, &str)]) -> SignUp {
        let attributes = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SignUp::new(Some("c3a1a6f0-0000-4000-8000-000000000001"), &attributes)
    }

    #[tokio::test]
    async fn look_alikes_and_taken_handles_are_refused_before_the_account_exists() {
        let store = seeded_store().await;
        for handle in [
            "WORF",
            "worf",
            "wo\u{200b}rf",
            "ｗｏｒｆ",
            "worf\u{0}",
            "\u{202e}frow",
            "../../etc",
            "two words",
            "%2e%2e%2fadmin",
            "x'; DROP TABLE users;--",
            &"q".repeat(100_000),
        ] {
            let err = check_sign_up(
                store.as_ref(),
                &sign_up(&[("preferred_username", handle), ("name", "Impostor")]),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(err.code, "user_handle_invalid" | "user_handle_taken"),
                "{handle:?}: {err}"
            );
        }
        let fine = sign_up(&[("preferred_username", "Quark"), ("name", "Quark")]);
        check_sign_up(store.as_ref(), &fine).await.unwrap();
        let err = check_sign_up(
            store.as_ref(),
            &sign_up(&[("preferred_username", "quark"), ("name", "Qu\u{202e}ark")]),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "display_name_invalid");
    }

    #[tokio::test]
    async fn confirmation_creates_the_user_once_and_says_why_it_cannot() {
        let store = seeded_store().await;
        let quark = sign_up(&[
            ("sub", "7f5e7a3c-0b5e-4a8e-9d4e-5c2b9e1f0a11"),
            ("preferred_username", "Quark"),
            ("name", "  Quark  "),
            ("email", "quark@example.com"),
        ]);
        let UserCreation::Created(user) = confirm_sign_up(store.as_ref(), &quark).await.unwrap()
        else {
            panic!("not created")
        };
        assert_eq!(
            (user.handle.as_str(), user.display_name.as_str()),
            ("quark", "Quark")
        );
        assert!(matches!(
            confirm_sign_up(store.as_ref(), &quark).await.unwrap(),
            UserCreation::AlreadyExists(_)
        ));
        let racer = sign_up(&[("sub", "another-sub"), ("preferred_username", "quark")]);
        let err = confirm_sign_up(store.as_ref(), &racer).await.unwrap_err();
        assert_eq!(err.code, "user_handle_taken");
        assert_eq!(
            err.to_string(),
            "user_handle_taken: That username is taken. Choose another."
        );
        let err = confirm_sign_up(store.as_ref(), &sign_up(&[("preferred_username", "nosub")]))
            .await
            .unwrap_err();
        assert_eq!(err.code, "sub_blank");
    }

    #[test]
    fn store_failures_are_one_code_and_never_internals() {
        let err: TriggerError =
            StoreError::unavailable("cannot create /var/task/.cruddur: File exists (os error 17)")
                .into();
        assert_eq!(err.code, "service_unavailable");
        assert!(!err.to_string().contains("os error"), "{err}");
        let diagnostic: Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, "service_unavailable");
    }
}
