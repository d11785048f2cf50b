//! Who is calling. In AWS the REST API's Cognito authorizer has verified the token and passes its
//! claims in `requestContext.authorizer.claims`; the caller is the user with that Cognito `sub`.

use lambda_http::{Request, RequestExt};

use crate::config::Config;
use crate::domain::User;
use crate::error::ApiError;
use crate::store::Store;

/// The verified Cognito `sub` of the request, if any. REST APIs put Cognito claims under
/// `authorizer.claims`; HTTP APIs' JWT authorizers under `authorizer.jwt.claims`.
pub fn claimed_sub(req: &Request) -> Option<String> {
    let authorizer = req.request_context_ref()?.authorizer()?;
    let from_jwt = authorizer
        .jwt
        .as_ref()
        .and_then(|jwt| jwt.claims.get("sub").cloned());
    let from_rest = || {
        authorizer
            .fields
            .get("claims")
            .and_then(|claims| claims.get("sub"))
            .and_then(|sub| sub.as_str())
            .map(str::to_owned)
    };
    from_jwt
        .or_else(from_rest)
        .map(|sub| sub.trim().to_owned())
        .filter(|sub| !sub.is_empty())
}

/// The calling user, or `Unauthorized`.
///
/// With no claims at all, and only when the stage is `local`, the configured local user stands
/// in (`cargo lambda watch` has no authorizer). Claims naming an unknown sub are never replaced.
pub async fn caller(req: &Request, store: &dyn Store, config: &Config) -> Result<User, ApiError> {
    let user = match claimed_sub(req) {
        Some(sub) => store.user_by_cognito_sub(&sub).await?,
        None if config.is_local() => store.user_by_handle(&config.local_user).await?,
        None => None,
    };
    user.ok_or(ApiError::Unauthorized)
}
