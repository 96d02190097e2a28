//! Typed ids of the main resources: an assignment's id cannot be passed where a case's is meant.
//! Each is an `i64` in the database (Diesel, through `diesel-derive-newtype`) and on the wire
//! (serde, transparent), and its own integer schema in the OpenAPI document. Request bodies take
//! them too: `eserde` reads them as it reads an `i64` (serde's own logic and wording), so a bad id
//! in a body is reported like any other bad field.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::{ObjectBuilder, RefOr, Type, schema::Schema};

macro_rules! typed_ids {
    ($($(#[doc = $doc:literal])+ $name:ident;)+) => {$(
        $(#[doc = $doc])+
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            diesel_derive_newtype::DieselNewType,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        eserde::impl_edeserialize_compat!($name);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .description(Some(concat!($($doc),+).trim()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

typed_ids! {
    /// The id of a case.
    CaseId;
    /// The id of an assignment (one department's share of a dispatch round).
    AssignmentId;
    /// The id of a deadline (one clock).
    DeadlineId;
    /// The id of a department.
    DepartmentId;
    /// The id of a category.
    CategoryId;
    /// The id of a user account.
    UserId;
    /// The id of an extension request.
    ExtensionId;
    /// The id of a supervision record.
    SupervisionId;
    /// The id of an integration client (not its public `client_id`).
    ClientId;
    /// The id of a follow-up call (one attempt to reach the citizen).
    FollowUpCallId;
    /// The id of a survey template version.
    SurveyTemplateId;
    /// The id of a survey invitation (with its answer, once given).
    SurveyId;
    /// The id of an attachment (one file on a case).
    AttachmentId;
    /// The id of a knowledge-base article (all its versions).
    ArticleId;
}
