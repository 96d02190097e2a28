//! The rules request bodies declare with `validator` attributes, beside the OpenAPI limits:
//!
//! ```ignore
//! #[validate(length(min = 1, max = 200), custom(function = "validation::text"))]
//! #[schema(min_length = 1, max_length = 200)]
//! pub title: String,
//! ```
//!
//! [`crate::extract::ApiJson`] runs them on every body, so a handler only ever sees a valid one
//! and a client learns of every bad field in one 422. The rules that say what a value is (a phone
//! number, a username, a code) are the domain's parsers; the functions here only adapt them. The
//! services parse the validated values again into domain types, which cannot fail then
//! ([`parsed`]). A test compares each request type's OpenAPI limits with what its rules accept.

use std::borrow::Cow;

use validator::ValidationError;

use crate::domain::account::{Username, parse_code, parse_name};
use crate::domain::phone::PhoneNumber;
use crate::error::{ApiError, FieldErrorCode};

fn error(code: FieldErrorCode, message: &'static str) -> ValidationError {
    ValidationError::new(code.as_str()).with_message(Cow::Borrowed(message))
}

/// Free text (titles, descriptions, notes, reasons): something besides spaces, and no control
/// characters but line breaks and tabs. Its length is the attribute's `length(max = ..)`.
pub fn text(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(error(FieldErrorCode::Required, "must not be empty"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(error(
            FieldErrorCode::Invalid,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A person's or organisation's name: one line of text (see [`parse_name`]).
pub fn name(value: &str) -> Result<(), ValidationError> {
    parse_name(value, usize::MAX)
        .map(drop)
        .map_err(|message| error(FieldErrorCode::Invalid, message))
}

/// A department's or category's code (see [`parse_code`]).
pub fn code(value: &str) -> Result<(), ValidationError> {
    parse_code(value)
        .map(drop)
        .map_err(|message| error(FieldErrorCode::Invalid, message))
}

/// A sign-in name (see [`Username`]).
pub fn username(value: &str) -> Result<(), ValidationError> {
    Username::parse(value)
        .map(drop)
        .map_err(|message| error(FieldErrorCode::Invalid, message))
}

/// A mainland mobile or landline (see [`PhoneNumber`]).
pub fn phone(value: &str) -> Result<(), ValidationError> {
    PhoneNumber::parse(value).map(drop).map_err(|_| {
        error(
            FieldErrorCode::Invalid,
            "not a mainland mobile (1[3-9] and 9 digits) or a landline with its area code",
        )
    })
}

/// Validated free text as it is stored: without the spaces around it.
pub fn trimmed(value: &str) -> String {
    value.trim().to_owned()
}

/// A validated value parsed into its domain type: cannot fail once the body's rules held, so a
/// failure is this server's fault.
pub fn parsed<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, ApiError> {
    result.map_err(|e| ApiError::internal(format!("a validated field failed to parse: {e}")))
}

/// Checks, for the request types listed, that the OpenAPI limits and the validation rules agree:
/// a body with every string at its `maxLength` (and numbers at their bounds) passes those
/// fields' rules; one character (or one unit) past a bound is refused for exactly that field.
#[cfg(test)]
pub(crate) mod limits {
    use serde_json::{Map, Value, json};
    use utoipa::openapi::{RefOr, Schema};
    use validator::Validate;

    /// The document's schema of `T`, as JSON, with the components it refers to.
    fn schema_of<T: utoipa::ToSchema>() -> (Value, Value) {
        let mut schemas = Vec::new();
        T::schemas(&mut schemas);
        let mut components = Map::new();
        for (name, schema) in schemas {
            components.insert(name, serde_json::to_value(schema).unwrap());
        }
        let own: RefOr<Schema> = T::schema();
        (
            serde_json::to_value(own).unwrap(),
            Value::Object(components),
        )
    }

    fn resolve<'a>(schema: &'a Value, components: &'a Value) -> &'a Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap();
            return &components[name];
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(first) = schema[key].as_array().and_then(|list| {
                list.iter()
                    .find(|s| s["type"] != "null")
                    .map(|s| resolve(s, components))
            }) {
                return first;
            }
        }
        schema
    }

    fn types(schema: &Value) -> Vec<&str> {
        match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// A valid value of `schema`, with strings of `length(n)` characters where the schema bounds
    /// them (`n` picks which bound) and numbers at the chosen bound.
    fn sample(schema: &Value, components: &Value, at_max: bool) -> Value {
        let schema = resolve(schema, components);
        if let Some(values) = schema["enum"].as_array() {
            return values[0].clone();
        }
        if let Some(example) = schema
            .get("example")
            .filter(|_| schema["maxLength"].is_null())
        {
            return example.clone();
        }
        let kinds = types(schema);
        if kinds.contains(&"object") || schema["properties"].is_object() {
            let mut object = Map::new();
            for (field, property) in schema["properties"].as_object().into_iter().flatten() {
                object.insert(field.clone(), sample(property, components, at_max));
            }
            return Value::Object(object);
        }
        if kinds.contains(&"array") {
            return json!([sample(&schema["items"], components, at_max)]);
        }
        if kinds.contains(&"integer") || kinds.contains(&"number") {
            let bound = if at_max { "maximum" } else { "minimum" };
            return schema.get(bound).cloned().unwrap_or(json!(1));
        }
        if kinds.contains(&"boolean") {
            return json!(true);
        }
        if schema["format"] == "date-time" {
            return json!("2026-01-05T09:00:00Z");
        }
        if schema["format"] == "date" {
            return json!("2026-01-05");
        }
        let length = if at_max {
            schema["maxLength"].as_u64()
        } else {
            schema["minLength"].as_u64()
        };
        json!("字".repeat(length.unwrap_or(3).max(1) as usize))
    }

    fn field_errors<T: Validate + serde::de::DeserializeOwned>(body: &Value) -> Vec<String> {
        let value: T = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("the sample body does not deserialise: {e}\n{body}"));
        match value.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => {
                let mut fields: Vec<String> = crate::extract::flatten_validation_errors(&errors)
                    .into_iter()
                    .map(|e| e.field)
                    .collect();
                fields.dedup();
                fields
            }
        }
    }

    /// For every bounded string or number property of `T` (top level and nested objects), the
    /// bound is where the rules start refusing, and only that field is refused. Fields whose
    /// content has its own rules (codes, phones, usernames) are sampled from their examples and
    /// listed in `own_rules`, where only the length is compared.
    pub fn assert_limits_match<T>(own_rules: &[&str])
    where
        T: utoipa::ToSchema + Validate + serde::de::DeserializeOwned,
    {
        let (schema, components) = schema_of::<T>();
        let schema = resolve(&schema, &components).clone();
        for at_max in [true, false] {
            let body = sample(&schema, &components, at_max);
            let body = fill_own_rules(body, &schema, &components, own_rules);
            assert_eq!(
                field_errors::<T>(&body),
                Vec::<String>::new(),
                "{}: every field at its bound should pass\n{body}",
                T::name()
            );
        }
        walk(&schema, &components, "", &mut |path, property| {
            for (bound, step) in [
                ("maxLength", 1i64),
                ("minLength", -1),
                ("maximum", 1),
                ("minimum", -1),
            ] {
                let Some(limit) = property[bound].as_f64() else {
                    continue;
                };
                // Nothing lies below a zero length, nor below zero for an unsigned count.
                if (bound == "minLength" || bound == "minimum") && limit <= 0.0 {
                    continue;
                }
                let mut body = sample(&schema, &components, true);
                body = fill_own_rules(body, &schema, &components, own_rules);
                let past = if bound.ends_with("Length") {
                    let n = limit as i64 + step;
                    if own_rules.contains(&path) {
                        json!("a".repeat(n.max(0) as usize))
                    } else {
                        json!("字".repeat(n.max(0) as usize))
                    }
                } else if types(property).contains(&"integer") {
                    json!(limit as i64 + step)
                } else {
                    json!(limit + step as f64)
                };
                set(&mut body, path, past);
                assert_eq!(
                    field_errors::<T>(&body),
                    vec![path.to_owned()],
                    "{}: {path} past its {bound} {limit} should be refused, alone",
                    T::name()
                );
            }
        });
    }

    fn fill_own_rules(mut body: Value, schema: &Value, components: &Value, own: &[&str]) -> Value {
        walk(schema, components, "", &mut |path, property| {
            if own.contains(&path) {
                let example = property
                    .get("example")
                    .cloned()
                    .unwrap_or_else(|| panic!("{path} has its own rules: give it an example"));
                set(&mut body, path, example);
            }
        });
        body
    }

    fn walk(schema: &Value, components: &Value, prefix: &str, visit: &mut dyn FnMut(&str, &Value)) {
        let schema = resolve(schema, components);
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let path = if prefix.is_empty() {
                field.clone()
            } else {
                format!("{prefix}.{field}")
            };
            let resolved = resolve(property, components);
            if resolved["properties"].is_object() {
                walk(resolved, components, &path, visit);
            } else {
                visit(&path, resolved_scalar(property, components));
            }
        }
    }

    /// A scalar property's own schema: its bounds sit on the property (or on its non-null arm).
    fn resolved_scalar<'a>(property: &'a Value, components: &'a Value) -> &'a Value {
        if property["maxLength"].is_null()
            && property["maximum"].is_null()
            && property["minimum"].is_null()
            && property["minLength"].is_null()
        {
            resolve(property, components)
        } else {
            property
        }
    }

    fn set(body: &mut Value, path: &str, value: Value) {
        let mut target = body;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                target[part] = value;
                return;
            }
            target = &mut target[part];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_needs_more_than_spaces_and_no_control_characters() {
        assert!(text("路灯不亮").is_ok());
        assert!(text("第一行\n第二行\t").is_ok());
        assert_eq!(text("  ").unwrap_err().code, "required");
        assert_eq!(text("a\u{7}b").unwrap_err().code, "invalid");
    }

    #[test]
    fn adapters_follow_the_domain_parsers() {
        assert!(phone("138 1234 5678").is_ok());
        assert!(phone("12345").is_err());
        assert!(username("li.na").is_ok());
        assert!(username("李娜").is_err());
        assert!(code("CGJ-01").is_ok());
        assert!(code("城管").is_err());
        assert!(name("李娜").is_ok());
        assert!(name("李\n娜").is_err());
    }

    /// Every request body of the document, with the fields whose content has its own rule.
    /// Sign-in and token requests are left out on purpose: every bad credential, however shaped,
    /// gets the same 401, so that the answer tells nothing about accounts.
    const UNDECLARED: &[&str] = &[
        "LoginRequest",
        "RefreshRequest",
        "ClientTokenRequest",
        // Multipart: its parts are read and bounded by the upload handler itself.
        "AttachmentUpload",
        // Open311's form, checked field by field by `domain::open311::parse_new_request`.
        "Open311RequestForm",
    ];

    macro_rules! request_types {
        ($($ty:ty => [$($own:literal),*];)+) => {
            /// The request types the test below covers, by schema name.
            fn covered() -> Vec<String> {
                vec![$(<$ty as utoipa::ToSchema>::name().into_owned()),+]
            }

            #[test]
            fn openapi_limits_are_the_validation_rules() {
                $(limits::assert_limits_match::<$ty>(&[$($own),*]);)+
            }
        };
    }

    request_types! {
        crate::service::users::CreateUser => ["username", "phone"];
        crate::service::users::UpdateUser => ["phone"];
        crate::service::organisation::CreateDepartment => ["code", "contact_phone"];
        crate::service::organisation::UpdateDepartment => ["contact_phone"];
        crate::service::organisation::CreateCategory => ["code"];
        crate::service::organisation::UpdateCategory => [];
        crate::service::organisation::CreateIntegrationClient => [];
        crate::service::organisation::UpdateIntegrationClient => [];
        crate::routes::auth::RegisterCitizenRequest => ["phone"];
        crate::service::supervision::SupervisionRequest => [];
        crate::service::supervision::ExplanationRequest => [];
        crate::service::extensions::ExtensionRequest => [];
        crate::service::extensions::ExtensionDecisionRequest => [];
        crate::service::intake::RegisterCase => ["complainant.phone"];
        crate::service::intake::UpdateCase => [];
        crate::service::intake::RejectCase => [];
        crate::service::intake::AnswerCase => [];
        crate::service::dispatch::DispatchCase => [];
        crate::service::dispatch::ReviewCase => [];
        crate::service::dispatch::Reason => [];
        crate::service::case_closing::MergeCase => [];
        crate::service::case_closing::CloseCase => [];
        crate::service::notes::NewNote => [];
        crate::service::assignments::ReturnAssignment => [];
        crate::service::assignments::RuleOnReturn => [];
        crate::service::assignments::Handover => [];
        crate::service::assignments::Progress => [];
        crate::service::assignments::Reply => [];
        crate::domain::calendar::YearRules => [];
        crate::domain::sla::SlaPolicy => [];
        crate::service::follow_up::RecordCall => [];
        crate::service::follow_up::FollowUpDecision => [];
        crate::service::surveys::CreateTemplate => [];
        crate::service::surveys::IssueSurvey => [];
        crate::service::surveys::SurveyResponse => [];
        crate::service::surveys::PhoneSurvey => [];
        crate::domain::statistics::Weights => [];
        crate::service::attachments::AttachmentChanges => [];
        crate::service::attachments::RemoveAttachment => [];
        crate::routes::attachments::NewAttachmentLink => [];
        crate::service::knowledge::CreateArticle => [];
        crate::service::knowledge::UpdateArticle => [];
        crate::service::webhooks::CreateWebhook => [];
        crate::service::webhooks::UpdateWebhook => [];
    }

    #[test]
    fn every_request_body_is_covered_by_the_limits_test() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let covered = covered();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let Some(content) = operation["requestBody"]["content"].as_object() else {
                    continue;
                };
                for media in content.values() {
                    let Some(reference) = media["schema"]["$ref"].as_str() else {
                        continue;
                    };
                    let name = reference.rsplit('/').next().unwrap();
                    assert!(
                        covered.iter().any(|c| c == name) || UNDECLARED.contains(&name),
                        "{name} is a request body: list it in request_types!"
                    );
                }
            }
        }
    }
}
