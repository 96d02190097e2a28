//! Authentication: password hashing, access tokens (JWT), opaque refresh tokens and secrets, and
//! the signed-in principal with its role checks and row scopes.

pub mod password;
pub mod policy;
pub mod principal;
pub mod secrets;
pub mod tokens;

pub use policy::{PendingPermit, Permit, PublicCaller, op};
pub use principal::{Credentials, Principal, PrincipalKind};
