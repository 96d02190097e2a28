//! The OpenAPI document. Paths are collected by utoipa-actix-web from the very services the app
//! registers ([`crate::routes::configure`]), so no endpoint can be served without being described.
//! The error answers every endpoint shares are added here in one place, from what the operation
//! takes (a body, parameters, a bearer token), so they cannot be forgotten or drift apart.

use actix_web::App;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as OpenApiDoc, Ref, RefOr, Response};
use utoipa::{OpenApi, ToSchema};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, PROBLEM_JSON, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hotline",
        description = "Headless JSON REST API of a government public-service hotline (12345 centre): \
            case intake, dispatch to departments with working-day deadlines, extensions, \
            supervision, review and redo, satisfaction surveys.\n\n\
            Conventions: JSON with snake_case fields; times in RFC 3339 UTC; every error is an \
            `application/problem+json` document with a stable `code`; every response carries \
            `X-Request-Id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "hotline developers", email = "hotline@example.org"),
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Sign-in, tokens (OAuth 2 field names) and citizen registration"),
        (name = "users", description = "Accounts of staff, citizens and administrators"),
        (name = "departments", description = "The departments that handle cases (承办单位), a tree"),
        (name = "categories", description = "The classification of matters, a tree with codes"),
        (name = "integration clients", description = "Machine clients that create cases for citizens"),
        (name = "cases", description = "Citizens' requests: intake, decisions, dispatch, review, redo, merge, close, timeline"),
        (name = "assignments", description = "Departments' shares of cases (派单): sign, return, handover, progress, reply"),
        (name = "follow-up", description = "Calling citizens back after the centre approved the result (回访): attempts, the work queue, and the supervisor's decision after a dissatisfied citizen"),
        (name = "deadlines", description = "Every clock the system runs: sign, reply, follow-up, with due-soon and overdue flags; extensions (延期)"),
        (name = "supervision", description = "The centre urging (催办) and supervising (督办) departments, the deadline sweep's own urges, written explanations"),
        (name = "surveys", description = "Satisfaction surveys (满意度调查): versioned templates, invitations with a single-use link, the citizen's answer (public), and the answers read by the centre, departments and analysts"),
        (name = "statistics", description = "Department performance (接诉即办考核): the four rates, composite score and ranking, by department, category, district, channel or kind; trends; the composite's weights; hot spots (rising categories and districts, clusters of similar cases); the public report (no sign-in). Figures only, never personal data"),
        (name = "exports", description = "Cases as CSV or XLSX files, streamed: for the centre, the departments (their cases) and analysts (without personal data)"),
        (name = "attachments", description = "Files on cases (photos, reply letters, recordings): multipart uploads checked by content, images without EXIF, streamed downloads with ranges, thumbnails, removal by administrators, signed public links"),
        (name = "knowledge", description = "The knowledge base (政策知识库): articles whose approved version call-takers answer from, every edit a version, approval by the owning department's admin or a centre supervisor, validity dates, search over Chinese text with highlights, suggestions while a case is typed, and the public FAQ (no sign-in)"),
        (name = "webhooks", description = "Case events pushed to integration clients: subscriptions, signed deliveries through an outbox, every attempt logged, replays"),
        (name = "open311", description = "Open311 GeoReport v2 under `/open311/v2`, for civic-tech clients: categories as services, cases as service requests (public fields only, never personal data), new requests by integration clients (`api_key` = `<client_id>:<client_secret>`). JSON or XML by the path's extension; errors in GeoReport's format (`[{\"code\":400,\"description\":\"…\"}]`, `<errors><error>…`), not problem documents"),
        (name = "calendar", description = "The working-day calendar and deadline previews"),
        (name = "sla policies", description = "Sign and reply periods per kind and urgency, versioned"),
        (name = "operations", description = "Health and readiness probes for load balancers and orchestrators"),
    ),
)]
struct ApiDoc;

/// The hand-written part of the document (info, tags, shared schemas); paths are added by the app.
pub fn base() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// The complete document, exactly as `/openapi.json` serves it.
pub fn document() -> OpenApiDoc {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(crate::routes::configure)
        .split_for_parts();
    finish(doc)
}

/// The document as committed in `openapi/openapi.json` (pretty, with a final newline).
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    json.push('\n');
    json
}

/// Adds the shared problem responses to every operation collected from the app.
pub fn finish(mut doc: OpenApiDoc) -> OpenApiDoc {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from POST /api/v1/auth/login (users) or /api/v1/auth/token (clients)",
                ))
                .build(),
        ),
    );
    reference_page_items(components);
    for (name, description) in SHARED_RESPONSES {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(
                Response::builder()
                    .description(*description)
                    .content(
                        PROBLEM_JSON,
                        Content::new(Some(Ref::from_schema_name(Problem::name()))),
                    )
                    .build(),
            ),
        );
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        if let Some(post) = item.post.as_mut() {
            add_idempotency_key(post);
        }
        for (method, operation) in [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
        ] {
            if let Some(operation) = operation {
                describe_policy(method, path, operation);
            }
        }
        // Open311 answers its errors in GeoReport's format, declared on each of its operations.
        if path.starts_with("/open311/") {
            continue;
        }
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_shared_responses(operation);
        }
    }
    doc
}

/// Each operation's entry of the policy table: `x-roles` (the roles allowed; absent on public
/// operations) and a closing line of the description naming the roles and the rows they reach.
/// An operation without an entry gets neither, and the tests below fail on it.
fn describe_policy(method: &str, path: &str, operation: &mut Operation) {
    let Some(entry) = crate::auth::policy::entry(method, path) else {
        return;
    };
    let roles = entry.roles();
    if roles.is_empty() {
        return;
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    operation
        .extensions
        .get_or_insert_with(Default::default)
        .insert("x-roles".to_owned(), serde_json::json!(names));
    let line = format!(
        "**Roles:** {}. **Rows:** {}.",
        names.join(", "),
        entry.rows.describe()
    );
    operation.description = Some(match operation.description.take() {
        Some(text) if !text.trim().is_empty() => format!("{}\n\n{line}", text.trim_end()),
        _ => line,
    });
}

/// utoipa inlines a generic type argument: every `Page_X` schema would carry its own copy of `X`,
/// and a generated client a duplicate class for it. The items of a page refer to the component
/// `X` instead (the one the single GET returns), moved to the components when only the page had it.
fn reference_page_items(components: &mut utoipa::openapi::Components) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    let pages: Vec<String> = components
        .schemas
        .keys()
        .filter(|name| name.starts_with("Page_"))
        .cloned()
        .collect();
    for page in pages {
        let item_name = page.trim_start_matches("Page_").to_owned();
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&page) else {
            continue;
        };
        let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut("items") else {
            continue;
        };
        let reference = RefOr::Ref(Ref::from_schema_name(&item_name));
        let inlined = std::mem::replace(
            &mut array.items,
            ArrayItems::RefOrSchema(Box::new(reference)),
        );
        if let ArrayItems::RefOrSchema(schema) = inlined {
            components.schemas.entry(item_name).or_insert(*schema);
        }
    }
}

const SHARED_RESPONSES: &[(&str, &str)] = &[
    (
        "BadRequest",
        "Malformed request: unparseable JSON, bad path or query parameter",
    ),
    (
        "Unauthorized",
        "Missing, malformed, expired or revoked bearer token",
    ),
    ("Forbidden", "The signed-in role may not do this"),
    (
        "PayloadTooLarge",
        "The request body exceeds the configured limit",
    ),
    ("UnsupportedMediaType", "The request body is not JSON"),
    (
        "UnprocessableContent",
        "Well-formed JSON with missing, unknown or invalid fields",
    ),
    (
        "InternalError",
        "Unexpected failure; the cause is logged under the request id",
    ),
];

/// Every POST of a signed-in caller honours `Idempotency-Key` (see `crate::idempotency`).
fn add_idempotency_key(operation: &mut Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().any(|r| r != &Default::default()));
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let named = |p: &RefOr<utoipa::openapi::path::Parameter>| matches!(p, RefOr::T(p) if p.name == "Idempotency-Key");
    if !secured || parameters.iter().any(named) {
        return;
    }
    parameters.push(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .description(Some(
                "Makes retries safe (1–100 visible ASCII characters): a retry with the same key \
                 gets the first successful answer again (header `Idempotent-Replayed: true`) and \
                 nothing is done twice. Kept 24 hours by default.",
            ))
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(100)),
            ))
            .build()
            .into(),
    );
    operation
        .responses
        .responses
        .entry("409".to_owned())
        .or_insert_with(|| {
            RefOr::T(
                Response::builder()
                    .description(
                        "The Idempotency-Key was used for another request, or its first request \
                         is still being answered",
                    )
                    .content(
                        PROBLEM_JSON,
                        Content::new(Some(Ref::from_schema_name(Problem::name()))),
                    )
                    .build(),
            )
        });
}

fn add_shared_responses(operation: &mut Operation) {
    let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = operation.request_body.is_some();
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().any(|r| r != &Default::default()));
    let mut wanted = vec![("500", "InternalError")];
    if has_params || has_body {
        wanted.push(("400", "BadRequest"));
    }
    if has_body {
        wanted.extend([
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
            ("422", "UnprocessableContent"),
        ]);
    }
    if secured {
        wanted.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
    }
    // Error answers declared on an endpoint with only a description get the problem document.
    for (status, response) in operation.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && !status.starts_with(['1', '2', '3'])
            && response.content.is_empty()
        {
            response.content.insert(
                PROBLEM_JSON.to_owned(),
                RefOr::T(Content::new(Some(Ref::from_schema_name(Problem::name())))),
            );
        }
    }
    for (status, name) in wanted {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_refer_to_their_item_component() {
        let doc = serde_json::to_value(document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let pages: Vec<_> = schemas
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("Page_"))
            .collect();
        assert!(pages.len() >= 5);
        for page in pages {
            let item = page.trim_start_matches("Page_");
            assert_eq!(
                schemas[page]["properties"]["items"]["items"]["$ref"],
                format!("#/components/schemas/{item}"),
                "{page}"
            );
            assert!(schemas[item].is_object(), "{item} is a component");
        }
    }

    /// The `enum` of a string property and its per-value descriptions; fails unless every value
    /// of `all` is listed, described in `x-enum-descriptions` and in the property's description.
    fn assert_catalogue_documented(property: &serde_json::Value, all: &[&str], name: &str) {
        assert_eq!(property["type"], "string", "{name}");
        let listed: Vec<&str> = property["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enum"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let description = property["description"].as_str().unwrap_or_default();
        for value in all {
            assert!(listed.contains(value), "{value} is not in {name}'s enum");
            let meaning = property["x-enum-descriptions"][value]
                .as_str()
                .unwrap_or_default();
            assert!(!meaning.trim().is_empty(), "{value} has no description");
            assert!(
                description.contains(&format!("- `{value}`: {meaning}")),
                "{value} is not described in {name}'s description"
            );
        }
        assert_eq!(listed.len(), all.len(), "{name} lists only the catalogue");
    }

    #[test]
    fn every_error_code_is_documented_on_the_problem_schema() {
        use crate::error::{ErrorCode, FieldErrorCode};
        let doc = serde_json::to_value(document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_catalogue_documented(
            &schemas["Problem"]["properties"]["code"],
            &codes,
            "Problem.code",
        );
        let field_codes: Vec<&str> = FieldErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_catalogue_documented(
            &schemas["FieldError"]["properties"]["code"],
            &field_codes,
            "FieldError.code",
        );
    }

    #[test]
    fn every_operation_documents_server_errors_and_describes_every_response() {
        let doc = document();
        assert!(!doc.paths.paths.is_empty());
        for (path, item) in &doc.paths.paths {
            for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                assert!(op.responses.responses.contains_key("500"), "{path}");
                for (status, response) in &op.responses.responses {
                    if let RefOr::T(response) = response {
                        assert!(
                            !response.description.is_empty(),
                            "{path} {status} has no description"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_operation_has_its_policy_entry_and_every_entry_an_operation() {
        use crate::auth::policy::{Access, TABLE, entry};
        let doc = serde_json::to_value(document()).unwrap();
        let mut seen = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let method = method.to_uppercase();
                let entry = entry(&method, path)
                    .unwrap_or_else(|| panic!("{method} {path} has no entry in the policy table"));
                assert_eq!(op["operationId"], entry.id, "{method} {path}");
                let secured = op["security"]
                    .as_array()
                    .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
                match entry.access {
                    Access::Public => {
                        assert!(!secured, "{method} {path} is public but asks for a token");
                        assert!(op.get("x-roles").is_none(), "{method} {path}");
                    }
                    Access::Roles(roles) => {
                        assert!(secured, "{method} {path} takes a token: say so");
                        let listed: Vec<&str> = op["x-roles"]
                            .as_array()
                            .unwrap_or_else(|| panic!("{method} {path} lists no x-roles"))
                            .iter()
                            .map(|r| r.as_str().unwrap())
                            .collect();
                        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                        assert_eq!(listed, roles, "{method} {path}");
                        assert!(
                            op["description"]
                                .as_str()
                                .unwrap_or_default()
                                .contains("**Roles:**"),
                            "{method} {path}"
                        );
                    }
                }
                seen.push(entry.id);
            }
        }
        for entry in TABLE {
            assert!(
                seen.contains(&entry.id),
                "the policy table lists {} {} ({}), which the API does not serve",
                entry.method,
                entry.path,
                entry.id
            );
        }
    }
}
