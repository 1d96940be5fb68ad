//! The OpenAPI 3.1 document of `/api/v1`, built from one route table and
//! the JSON Schemas (2020-12, which OpenAPI 3.1 uses) that `schemars`
//! derives from the request and response types: the status report and the
//! plan are the model's own types (`status --json`, `plan --json` print the
//! same), so the schemas cannot drift from what is sent. Plus an offline
//! page that renders it (no CDN).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One route.
struct Route {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    /// Needs the full token (changes something).
    writes: bool,
    /// The request body's schema, if any.
    body: Option<Value>,
    /// The success status and what it returns.
    ok: (&'static str, &'static str),
    /// The success response's schema: a name in `components.schemas`.
    returns: Option<&'static str>,
}

fn routes() -> Vec<Route> {
    let schema = |s: schemars::Schema| Some(s.to_value());
    let text = Some(json!({"type": "string", "description": "the whole facerunner.yaml text"}));
    let plan = Some(
        json!({"$ref": "#/components/schemas/Plan", "description": "a plan exactly as GET /api/v1/plan returned it (docs/plan-json.md)"}),
    );
    vec![
        Route {
            method: "get",
            path: "/api/v1/status",
            summary: "Every service's state, health, pid, restarts, port, CPU, memory and GPUs (as `status --json`)",
            writes: false,
            body: None,
            ok: ("200", "the status report"),
            returns: Some("StatusReport"),
        },
        Route {
            method: "post",
            path: "/api/v1/services/{name}/{action}",
            summary: "Start, stop or restart one service (action: start|stop|restart)",
            writes: true,
            body: None,
            ok: (
                "200",
                "what was done; `failed` lists services that did not reach their goal",
            ),
            returns: Some("Controlled"),
        },
        Route {
            method: "get",
            path: "/api/v1/services/{name}/logs",
            summary: "The last `tail` lines (default 200) of a service's log, filtered by `filter` (text, case-insensitive) and `stream` (out|err|fr)",
            writes: false,
            body: None,
            ok: ("200", "{lines: [{service, time, stream, text}]}"),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/plan",
            summary: "What apply would change (the same JSON as `plan --json`)",
            writes: false,
            body: None,
            ok: ("200", "the plan"),
            returns: Some("Plan"),
        },
        Route {
            method: "post",
            path: "/api/v1/apply",
            summary: "Apply the plan the caller saw; refused with 409 (stale-plan) when the file or the live world moved since",
            writes: true,
            body: plan,
            ok: (
                "200",
                "{applied, report} or {applied: false, no_changes: true}",
            ),
            returns: None,
        },
        Route {
            method: "post",
            path: "/api/v1/validate",
            summary: "Validate posted file text: located diagnostics (as `validate --json`)",
            writes: true,
            body: text.clone(),
            ok: ("200", "{valid, error_count, warning_count, diagnostics}"),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/file",
            summary: "The project file's path and text",
            writes: false,
            body: None,
            ok: ("200", "{path, text}"),
            returns: None,
        },
        Route {
            method: "put",
            path: "/api/v1/file",
            summary: "Replace the file's text if it validates (422 invalid-file with diagnostics otherwise); answers the new plan",
            writes: true,
            body: text,
            ok: ("200", "{saved, plan}"),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/gpus",
            summary: "The GPU inventory with current memory, utilization and processes",
            writes: false,
            body: None,
            ok: ("200", "the inventory (as `gpus --json`)"),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/convert",
            summary: "The Ollama name of a Hugging Face repo (`name=org/repo[:quant]`, `quant=`, `offline=true`) with the reason and what answered (the Hub, else FaceRunner's table), as `convert --json`",
            writes: false,
            body: None,
            ok: (
                "200",
                "{input, ok, ollama, method, source, answered_by, offline_reason, commit, reason}",
            ),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/models",
            summary: "Per ollama service, every installed model with size, owner and loaded state (as `models --json`)",
            writes: false,
            body: None,
            ok: ("200", "{service: {source, models: [ModelRow]}}"),
            returns: None,
        },
        Route {
            method: "post",
            path: "/api/v1/models/pull",
            summary: "Pull a model (progress as `pull` events on /api/v1/events); answers when done",
            writes: true,
            body: schema(schemars::schema_for!(super::api::PullBody)),
            ok: ("200", "the engine's report"),
            returns: None,
        },
        Route {
            method: "delete",
            path: "/api/v1/models/{service}/{name}",
            summary: "Remove a model from an ollama service",
            writes: true,
            body: None,
            ok: ("200", "the engine's report"),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/events",
            summary: "Server-sent events: service, status, watch, apply, apply_done, apply_failed, pull, log (with `logs=SERVICE`), daemon_unreachable, dropped",
            writes: false,
            body: None,
            ok: ("200", "text/event-stream"),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/webhooks",
            summary: "The file's webhooks (URLs and events; never their secrets) and the last 50 deliveries that failed every attempt",
            writes: false,
            body: None,
            ok: (
                "200",
                "{webhooks: [{url, events, signed}], failures: [{url, event, at, attempts, error}]}",
            ),
            returns: None,
        },
        Route {
            method: "get",
            path: "/api/v1/integrations",
            summary: "The editor config `facerunner integrations show` prints: Continue's model block and Zed's settings snippet, each with where it goes and whether the file enables it",
            writes: false,
            body: None,
            ok: ("200", "the editor config"),
            returns: Some("EditorConfig"),
        },
        Route {
            method: "get",
            path: "/metrics",
            summary: "Prometheus metrics (services, probes, CPU, memory, applies, pulls; GPUs under the DCGM exporter's names); needs a token of either role",
            writes: false,
            body: None,
            ok: ("200", "text/plain; version=0.0.4"),
            returns: None,
        },
    ]
}

/// The JSON Schemas (2020-12) of the typed responses, generated from the
/// very types the handlers serialize (as they are written: a field left out
/// when empty is not required), with every type they contain, keyed by
/// name for `#/components/schemas/…` references.
fn components() -> serde_json::Map<String, Value> {
    use crate::model::plan::Plan;
    use crate::model::wire::StatusReport;
    let mut g = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .for_serialize()
        .into_generator();
    // Each is a named type: generating it adds it (and what it holds) to
    // the definitions.
    g.subschema_for::<StatusReport>();
    g.subschema_for::<Plan>();
    g.subschema_for::<super::api::Controlled>();
    g.subschema_for::<super::api::ModelRow>();
    g.subschema_for::<crate::plan::integrations_show::EditorConfig>();
    g.take_definitions(true)
}

/// The document.
pub fn build() -> Value {
    let problem = json!({
        "description": "an error (application/problem+json, RFC 9457); `type` is urn:facerunner:problem:<kind>",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    });
    let mut paths = serde_json::Map::new();
    for r in routes() {
        let mut responses = serde_json::Map::new();
        let mut ok = json!({"description": r.ok.1});
        if let Some(name) = r.returns {
            ok["content"] = json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}});
        }
        responses.insert(r.ok.0.into(), ok);
        responses.insert("401".into(), problem.clone());
        if r.writes {
            responses.insert("403".into(), problem.clone());
        }
        responses.insert("default".into(), problem.clone());
        let mut op = json!({
            "summary": r.summary,
            "security": [{"bearer": []}, {"cookie": []}],
            "responses": responses,
        });
        if r.writes {
            op["description"] =
                json!("Needs the full token; a browser request must come from this origin.");
        }
        if let Some(b) = r.body {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": b}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    let mut schemas = components();
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "diagnostics": {"type": "object"}
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "FaceRunner dashboard API",
            "version": "1",
            "description": "The project's REST API. Every route needs a token: `Authorization: Bearer TOKEN` or the cookie the login link sets (`facerunner dashboard` prints it). The read-only token may only GET."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::auth::COOKIE}
            },
            "schemas": schemas,
        }
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Response {
    axum::Json(build()).into_response()
}

/// `GET /api/v1/docs`: the document rendered by a small embedded page.
pub async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("assets/api.html"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    /// Every `$ref` in `v`.
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r.to_string());
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn status_and_plan_have_schemas_whose_references_all_resolve() {
        let doc = super::build();
        let schemas = &doc["components"]["schemas"];
        for name in ["StatusReport", "ServiceStatus", "Lifecycle", "Plan", "Step"] {
            assert!(schemas[name].is_object(), "no {name}: {schemas}");
        }
        let services = &schemas["StatusReport"]["properties"]["services"]["items"]["$ref"];
        assert_eq!(services, "#/components/schemas/ServiceStatus");
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 10, "{all:?}");
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r} points outside the components"));
            assert!(schemas[name].is_object(), "{r} does not resolve");
        }
    }

    #[test]
    fn every_route_of_the_router_is_documented() {
        let doc = super::build();
        let src = include_str!("mod.rs");
        for line in src
            .lines()
            .filter(|l| l.contains(".route(\"/api/v1/") || l.contains(".route(\"/metrics"))
        {
            let path = line.split('"').nth(1).expect("quoted path");
            if path == "/api/v1/openapi.json" || path == "/api/v1/docs" {
                continue;
            }
            assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
        }
    }
}
