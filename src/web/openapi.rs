//! The OpenAPI 3.1 document of `/api/v1`, built from one route table and
//! the JSON Schemas (2020-12, which OpenAPI 3.1 uses) that `schemars`
//! derives from the request and response types defined here; responses
//! that are the CLI's own JSON (`status --json`, `plan --json`,
//! `validate --json`) point at their documentation. Plus an offline page
//! that renders it (no CDN).

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
}

fn routes() -> Vec<Route> {
    let schema = |s: schemars::Schema| Some(s.to_value());
    let text = Some(json!({"type": "string", "description": "the whole facerunner.yaml text"}));
    let plan = Some(
        json!({"type": "object", "description": "a plan exactly as GET /api/v1/plan returned it (docs/plan-json.md)"}),
    );
    vec![
        Route {
            method: "get",
            path: "/api/v1/status",
            summary: "Every service's state, health, pid, restarts, port, CPU, memory and GPUs (as `status --json`)",
            writes: false,
            body: None,
            ok: ("200", "the status report"),
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
        },
        Route {
            method: "get",
            path: "/api/v1/services/{name}/logs",
            summary: "The last `tail` lines (default 200) of a service's log, filtered by `filter` (text, case-insensitive) and `stream` (out|err|fr)",
            writes: false,
            body: None,
            ok: ("200", "{lines: [{service, time, stream, text}]}"),
        },
        Route {
            method: "get",
            path: "/api/v1/plan",
            summary: "What apply would change (the same JSON as `plan --json`)",
            writes: false,
            body: None,
            ok: ("200", "the plan"),
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
        },
        Route {
            method: "post",
            path: "/api/v1/validate",
            summary: "Validate posted file text: located diagnostics (as `validate --json`)",
            writes: true,
            body: text.clone(),
            ok: ("200", "{valid, error_count, warning_count, diagnostics}"),
        },
        Route {
            method: "get",
            path: "/api/v1/file",
            summary: "The project file's path and text",
            writes: false,
            body: None,
            ok: ("200", "{path, text}"),
        },
        Route {
            method: "put",
            path: "/api/v1/file",
            summary: "Replace the file's text if it validates (422 invalid-file with diagnostics otherwise); answers the new plan",
            writes: true,
            body: text,
            ok: ("200", "{saved, plan}"),
        },
        Route {
            method: "get",
            path: "/api/v1/gpus",
            summary: "The GPU inventory with current memory, utilization and processes",
            writes: false,
            body: None,
            ok: ("200", "the inventory (as `gpus --json`)"),
        },
        Route {
            method: "get",
            path: "/api/v1/convert",
            summary: "The Ollama name of a Hugging Face repo (`name=org/repo[:quant]`), offline, with the reason",
            writes: false,
            body: None,
            ok: ("200", "{input, ollama, reason}"),
        },
        Route {
            method: "get",
            path: "/api/v1/models",
            summary: "Per ollama service, every installed model with size, owner and loaded state (as `models --json`)",
            writes: false,
            body: None,
            ok: ("200", "{service: {source, models: [ModelRow]}}"),
        },
        Route {
            method: "post",
            path: "/api/v1/models/pull",
            summary: "Pull a model (progress as `pull` events on /api/v1/events); answers when done",
            writes: true,
            body: schema(schemars::schema_for!(super::api::PullBody)),
            ok: ("200", "the engine's report"),
        },
        Route {
            method: "delete",
            path: "/api/v1/models/{service}/{name}",
            summary: "Remove a model from an ollama service",
            writes: true,
            body: None,
            ok: ("200", "the engine's report"),
        },
        Route {
            method: "get",
            path: "/api/v1/events",
            summary: "Server-sent events: service, status, watch, apply, apply_done, apply_failed, pull, log (with `logs=SERVICE`), daemon_unreachable, dropped",
            writes: false,
            body: None,
            ok: ("200", "text/event-stream"),
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
        },
        Route {
            method: "get",
            path: "/metrics",
            summary: "Prometheus metrics (services, probes, CPU, memory, applies, pulls; GPUs under the DCGM exporter's names); needs a token of either role",
            writes: false,
            body: None,
            ok: ("200", "text/plain; version=0.0.4"),
        },
    ]
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
        responses.insert(r.ok.0.into(), json!({"description": r.ok.1}));
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
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "diagnostics": {"type": "object"}
                    }
                },
                "ModelRow": schemars::schema_for!(super::api::ModelRow).to_value(),
                "Controlled": schemars::schema_for!(super::api::Controlled).to_value(),
            }
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
