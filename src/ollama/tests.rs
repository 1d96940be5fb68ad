//! Client tests against the scripted server in `test_server.rs`, plus one
//! end-to-end run against the Python Ollama stand-in when it is available.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::test_server::{
    Recorded, Step, TestServer, chunk, end_chunks, json, ms, ndjson, respond, stream_head,
};
use super::*;

const FAST_RETRY: RetryPolicy = RetryPolicy {
    attempts: 3,
    initial_backoff: Duration::from_millis(10),
    max_backoff: Duration::from_millis(40),
};

fn client(server: &TestServer) -> Client {
    Client::builder(&server.url())
        .retry(FAST_RETRY)
        .read_timeout(Duration::from_secs(5))
        .stream_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

async fn collect<S: Stream<Item = Result<Progress, OllamaError>>>(
    s: S,
) -> Vec<Result<Progress, OllamaError>> {
    s.collect().await
}

fn statuses(items: &[Result<Progress, OllamaError>]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|p| p.status.clone())
        .collect()
}

const DIGEST: &str = "sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa";

// ---- streams ---------------------------------------------------------------

#[tokio::test]
async fn pull_streams_progress_split_across_chunks() {
    let server = TestServer::start(|_, _| {
        vec![
            stream_head(),
            chunk("{\"status\":\"pulling manifest\"}\n{\"status\":\"pulling 6a07"),
            Step::Sleep(ms(20)),
            chunk(&format!(
                "46a1ec1a\",\"digest\":\"{DIGEST}\",\"total\":100}}\n"
            )),
            Step::Sleep(ms(20)),
            chunk(&format!(
                "{{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"{DIGEST}\",\"total\":100,\"completed\":50}}\n"
            )),
            chunk(&format!(
                "{{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"{DIGEST}\",\"total\":100,\"completed\":100,\"extra\":1}}\n"
            )),
            chunk("{\"status\":\"verifying sha256 digest\"}\n{\"status\":\"writing manifest\"}\n"),
            chunk("\n{\"status\":\"success\"}\n"),
            end_chunks(),
        ]
    })
    .await;
    let items = collect(client(&server).pull("llama3.2:1b", false)).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    let progress: Vec<Progress> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        progress
            .iter()
            .map(|p| p.status.as_str())
            .collect::<Vec<_>>(),
        [
            "pulling manifest",
            "pulling 6a0746a1ec1a",
            "pulling 6a0746a1ec1a",
            "pulling 6a0746a1ec1a",
            "verifying sha256 digest",
            "writing manifest",
            "success"
        ]
    );
    assert_eq!(
        progress.iter().map(Progress::fraction).collect::<Vec<_>>(),
        [None, Some(0.0), Some(0.5), Some(1.0), None, None, None]
    );
    assert_eq!(progress[1].layer_digest(), Some(DIGEST));
    assert_eq!(progress[0].layer_digest(), None);
    assert!(progress[6].is_success() && !progress[5].is_success());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/api/pull")
    );
    assert_eq!(
        requests[0].json(),
        json!({"model": "llama3.2:1b", "insecure": false, "stream": true})
    );
    let host = format!("localhost:{}", server.addr.port());
    assert_eq!(requests[0].header("host"), Some(host.as_str()));
}

#[tokio::test]
async fn pull_error_line_after_200_is_the_last_item() {
    let server = TestServer::start(|_, _| {
        ndjson(&[
            r#"{"status":"pulling manifest"}"#,
            r#"{"error":"pull model manifest: file does not exist"}"#,
            r#"{"status":"never seen"}"#,
        ])
    })
    .await;
    let items = collect(client(&server).pull("nope:latest", false)).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(statuses(&items), ["pulling manifest"]);
    let err = items.into_iter().nth(1).unwrap().unwrap_err();
    match &err {
        OllamaError::Api {
            status: 200,
            message,
            endpoint,
            ..
        } => {
            assert_eq!(message, "pull model manifest: file does not exist");
            assert_eq!(endpoint.to_string(), "POST /api/pull");
        }
        other => panic!("expected Api error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("POST /api/pull") && text.contains(&server.url()),
        "{text}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "an in-stream error is not retried"
    );
}

#[tokio::test]
async fn pull_dropped_mid_stream_ends_early_and_is_not_resent() {
    let server = TestServer::start(|_, _| {
        vec![
            stream_head(),
            chunk("{\"status\":\"pulling manifest\"}\n"),
            chunk(&format!(
                "{{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"{DIGEST}\",\"total\":100,\"completed\":10}}\n"
            )),
            Step::Close,
        ]
    })
    .await;
    let items = collect(client(&server).pull("m", false)).await;
    assert_eq!(items.len(), 3, "{items:?}");
    match items.last().unwrap() {
        Err(OllamaError::StreamEndedEarly { last_status, .. }) => {
            assert_eq!(last_status.as_deref(), Some("pulling 6a0746a1ec1a"));
        }
        other => panic!("expected StreamEndedEarly, got {other:?}"),
    }
    let text = items.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(text.contains("ended early"), "{text}");
    assert_eq!(
        server.requests().len(),
        1,
        "a consumed stream is never re-sent"
    );
}

#[tokio::test]
async fn pull_clean_eof_without_success_ends_early() {
    // Body delimited by connection close (no length, not chunked): EOF looks
    // clean, but without `success` the pull did not finish.
    let server = TestServer::start(|_, _| {
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n{\"status\":\"pulling manifest\"}\n"
                .to_vec(),
        )]
    })
    .await;
    let items = collect(client(&server).pull("m", false)).await;
    assert_eq!(statuses(&items), ["pulling manifest"]);
    assert!(
        matches!(
            items.last(),
            Some(Err(OllamaError::StreamEndedEarly { reason, .. })) if reason.contains("closed")
        ),
        "{items:?}"
    );
}

#[tokio::test]
async fn create_sends_the_request_and_streams_progress() {
    let server = TestServer::start(|_, _| {
        ndjson(&[
            r#"{"status":"using existing layer sha256:aa"}"#,
            r#"{"status":"writing manifest"}"#,
            r#"{"status":"success"}"#,
        ])
    })
    .await;
    let mut parameters = serde_json::Map::new();
    parameters.insert("num_ctx".into(), json!(8192));
    parameters.insert("stop".into(), json!(["<|eot|>"]));
    let request = CreateRequest {
        model: "me/assistant:latest".into(),
        from: Some("llama3.2:1b".into()),
        system: Some("Be brief.".into()),
        parameters,
        ..CreateRequest::default()
    };
    let items = collect(client(&server).create(request)).await;
    assert_eq!(
        statuses(&items),
        [
            "using existing layer sha256:aa",
            "writing manifest",
            "success"
        ]
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/api/create");
    assert_eq!(
        sent.json(),
        json!({
            "model": "me/assistant:latest",
            "from": "llama3.2:1b",
            "system": "Be brief.",
            "parameters": {"num_ctx": 8192, "stop": ["<|eot|>"]},
            "stream": true
        })
    );
}

#[test]
fn create_request_serializes_all_fields() {
    let request = CreateRequest {
        model: "m".into(),
        files: [("model.gguf".to_owned(), DIGEST.to_owned())].into(),
        adapters: [("lora.gguf".to_owned(), "sha256:bb".to_owned())].into(),
        template: Some("{{ .Prompt }}".into()),
        license: Some("MIT".into()),
        messages: vec![Message {
            role: "user".into(),
            content: "hi".into(),
        }],
        quantize: Some("q4_K_M".into()),
        ..CreateRequest::default()
    };
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({
            "model": "m",
            "files": {"model.gguf": DIGEST},
            "adapters": {"lora.gguf": "sha256:bb"},
            "template": "{{ .Prompt }}",
            "license": "MIT",
            "messages": [{"role": "user", "content": "hi"}],
            "quantize": "q4_K_M"
        })
    );
}

// ---- retries and status codes ----------------------------------------------

const TAGS: &str = r#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2026-08-29T08:44:00.123456789Z","size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72","details":{"parent_model":"","format":"gguf","family":"llama","families":null,"parameter_size":"3.2B","quantization_level":"Q4_K_M","context_length":131072},"capabilities":["completion","tools"],"unknown":{"x":1}}]}"#;

#[tokio::test]
async fn five_hundred_twice_then_ok_is_retried() {
    let server = TestServer::start(|n, _| {
        if n < 2 {
            json(500, r#"{"error":"temporary"}"#)
        } else {
            json(200, TAGS)
        }
    })
    .await;
    let models = client(&server).tags().await.expect("tags after retries");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(models.len(), 1);
    let m = &models[0];
    assert_eq!(m.name, "llama3.2:latest");
    assert_eq!(m.size, 2_019_393_189);
    assert_eq!(m.modified_at, "2026-08-29T08:44:00.123456789Z");
    assert_eq!(m.details.family, "llama");
    assert!(m.details.families.is_empty());
    assert_eq!(m.details.quantization_level, "Q4_K_M");
    assert_eq!(m.capabilities, ["completion", "tools"]);
}

#[tokio::test]
async fn persistent_5xx_gives_up_with_the_server_message() {
    let server = TestServer::start(|_, _| {
        json(
            503,
            r#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#,
        )
    })
    .await;
    let err = client(&server).load("m", None).await.unwrap_err();
    assert_eq!(server.requests().len(), 3);
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("server busy"), "{err}");
}

#[tokio::test]
async fn not_found_is_not_retried_and_maps_to_none_or_false() {
    let server = TestServer::start(|_, r| match r.path.as_str() {
        "/api/copy" => json(404, r#"{"error":"model \"a\" not found"}"#),
        p if p.starts_with("/api/blobs/") => respond(404, "application/json", ""),
        _ => json(404, r#"{"error":"model 'm:latest' not found"}"#),
    })
    .await;
    let c = client(&server);
    assert_eq!(c.show("m").await.unwrap(), None);
    assert!(!c.delete("m").await.unwrap());
    assert!(!c.blob_exists(DIGEST).await.unwrap());
    let err = c.copy("a", "b").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains(r#"model "a" not found"#), "{err}");
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "404 must not be retried");
    assert_eq!(requests[0].json(), json!({"model": "m"}));
    assert_eq!(requests[1].method, "DELETE");
    assert_eq!(requests[2].method, "HEAD");
    assert_eq!(
        requests[3].json(),
        json!({"source": "a", "destination": "b"})
    );
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let server = TestServer::start(|_, _| json(400, r#"{"error":"invalid model name"}"#)).await;
    let items = collect(client(&server).pull("bad//name", false)).await;
    assert_eq!(items.len(), 1);
    match &items[0] {
        Err(OllamaError::Api {
            status: 400,
            message,
            ..
        }) => assert_eq!(message, "invalid model name"),
        other => panic!("expected a 400 Api error, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = format!("http://{addr}");
    let c = Client::builder(&base)
        .retry(RetryPolicy {
            attempts: 2,
            ..FAST_RETRY
        })
        .build()
        .unwrap();
    let err = c.heartbeat().await.unwrap_err();
    assert!(
        matches!(err, OllamaError::Connect { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.is_connect());
    let text = err.to_string();
    assert!(
        text.contains(&base) && text.contains("may not be running") && text.contains("GET /"),
        "{text}"
    );
}

#[tokio::test]
async fn forbidden_without_body_explains_the_host_guard() {
    let server = TestServer::start(|_, _| respond(403, "text/plain", "")).await;
    let c = Client::builder(&server.url())
        .host_header(Some("evil.example:80".into()))
        .build()
        .unwrap();
    let err = c.version().await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("Host"), "{err}");
    assert_eq!(server.requests()[0].header("host"), Some("evil.example:80"));
}

// ---- simple endpoints --------------------------------------------------------

#[tokio::test]
async fn heartbeat_version_ps_and_show_decode() {
    let server = TestServer::start(|_, r| match r.path.as_str() {
        "/" => respond(200, "text/plain", "Ollama is running"),
        "/api/version" => json(200, r#"{"version":"0.33.0-rc2"}"#),
        "/api/ps" => json(
            200,
            r#"{"models":[{"name":"m:latest","model":"m:latest","size":10,"size_vram":10,"digest":"ab","details":{"format":"gguf"},"expires_at":"2318-01-01T00:00:00Z","context_length":4096}]}"#,
        ),
        "/api/show" => json(
            200,
            r#"{"modelfile":"FROM x","parameters":"num_ctx 8192","template":"{{ .Prompt }}","system":"hi","details":{"family":"llama","families":["llama"]},"messages":null,"model_info":{"general.architecture":"llama"},"capabilities":["completion"],"tensors":[{"name":"t"}],"modified_at":"2026-08-29T08:44:00Z"}"#,
        ),
        _ => json(404, "{}"),
    })
    .await;
    let c = client(&server);
    c.heartbeat().await.unwrap();
    assert_eq!(c.version().await.unwrap(), "0.33.0-rc2");
    let ps = c.ps().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!((ps[0].size, ps[0].size_vram), (10, 10));
    assert_eq!(ps[0].context_length, Some(4096));
    assert_eq!(ps[0].expires_at, "2318-01-01T00:00:00Z");
    let show = c.show("m").await.unwrap().expect("installed");
    assert_eq!(show.parameters, "num_ctx 8192");
    assert_eq!(show.system, "hi");
    assert!(show.messages.is_empty());
    assert_eq!(show.model_info["general.architecture"], "llama");
    assert_eq!(show.details.families, ["llama"]);
}

#[tokio::test]
async fn malformed_body_is_a_bad_response() {
    let server = TestServer::start(|_, _| json(200, "<html>proxy</html>")).await;
    let err = client(&server).tags().await.unwrap_err();
    assert!(matches!(err, OllamaError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("GET /api/tags"), "{err}");
}

#[tokio::test]
async fn an_endless_progress_line_is_refused() {
    let server = TestServer::start(|_, _| {
        let piece = "x".repeat(64 << 10);
        let mut steps = vec![stream_head(), chunk("{\"status\":\"pulling manifest\"}\n")];
        steps.extend((0..=(progress::MAX_LINE_BYTES >> 16)).map(|_| chunk(&piece)));
        steps.push(end_chunks());
        steps
    })
    .await;
    let items = collect(client(&server).pull("m", false)).await;
    assert_eq!(statuses(&items), ["pulling manifest"]);
    let err = items.into_iter().nth(1).expect("an error").unwrap_err();
    assert!(
        matches!(err, OllamaError::TooLarge { limit, .. } if limit == progress::MAX_LINE_BYTES as u64),
        "{err:?}"
    );
    assert!(err.to_string().contains("POST /api/pull"), "{err}");
}

#[tokio::test]
async fn a_huge_body_is_refused_not_read_to_the_end() {
    // Declared too large: nothing of it is read.
    let server = TestServer::start(|_, _| {
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n{\"models\":["
                .to_vec(),
        )]
    })
    .await;
    let err = client(&server).tags().await.unwrap_err();
    assert!(
        matches!(err, OllamaError::TooLarge { limit, .. } if limit == client::MAX_BODY_BYTES),
        "{err:?}"
    );
    assert!(err.to_string().contains("GET /api/tags"), "{err}");
    // Chunked, with no length: reading stops past the limit.
    let server = TestServer::start(|_, _| {
        let piece = " ".repeat(1 << 20);
        let mut steps = vec![stream_head(), chunk("{\"models\":[")];
        steps.extend((0..=(client::MAX_BODY_BYTES >> 20)).map(|_| chunk(&piece)));
        steps.push(chunk("]}"));
        steps.push(end_chunks());
        steps
    })
    .await;
    let err = client(&server).tags().await.unwrap_err();
    assert!(matches!(err, OllamaError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn load_and_unload_send_empty_generate_requests() {
    let server = TestServer::start(|_, r| {
        let reason = if r.json()["keep_alive"] == json!(0) {
            "unload"
        } else {
            "load"
        };
        json(
            200,
            &format!(
                r#"{{"model":"m","created_at":"2026-08-29T08:44:00Z","response":"","done":true,"done_reason":"{reason}"}}"#
            ),
        )
    })
    .await;
    let c = client(&server);
    c.load("m", None).await.unwrap();
    c.load("m", Some(KeepAlive::FOREVER)).await.unwrap();
    c.load("m", Some("10m".parse().unwrap())).await.unwrap();
    c.unload("m").await.unwrap();
    let bodies: Vec<serde_json::Value> = server.requests().iter().map(Recorded::json).collect();
    assert_eq!(
        bodies,
        [
            json!({"model": "m", "prompt": "", "stream": false}),
            json!({"model": "m", "prompt": "", "stream": false, "keep_alive": -1}),
            json!({"model": "m", "prompt": "", "stream": false, "keep_alive": "10m"}),
            json!({"model": "m", "prompt": "", "stream": false, "keep_alive": 0}),
        ]
    );
    assert!(server.requests().iter().all(|r| r.path == "/api/generate"));
}

// ---- blobs -------------------------------------------------------------------

#[tokio::test]
async fn push_blob_streams_the_file_and_the_digest_matches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 123)
        .map(|i| (i % 251) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    let digest = sha256_file(&path).await.unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&data)))
    );

    let server = TestServer::start(|_, r| match r.method.as_str() {
        "HEAD" => respond(404, "application/json", ""),
        _ => {
            let got = format!("sha256:{}", hex::encode(Sha256::digest(&r.body)));
            if r.path == format!("/api/blobs/{got}") {
                respond(201, "text/plain", "")
            } else {
                json(400, r#"{"error":"digest mismatch"}"#)
            }
        }
    })
    .await;
    let c = client(&server);
    assert_eq!(c.ensure_blob(&path).await.unwrap(), digest);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "HEAD");
    let upload = &requests[1];
    assert_eq!(upload.path, format!("/api/blobs/{digest}"));
    assert_eq!(upload.body, data);
    assert_eq!(
        upload.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    let host = format!("localhost:{}", server.addr.port());
    assert_eq!(upload.header("host"), Some(host.as_str()));

    let wrong = c.push_blob(DIGEST, &path).await.unwrap_err();
    assert_eq!(wrong.status(), Some(400));
}

#[tokio::test]
async fn missing_local_file_is_an_io_error_with_the_path() {
    let server = TestServer::start(|_, _| respond(201, "text/plain", "")).await;
    let missing = std::path::Path::new("/nonexistent/dir/model.gguf");
    let err = client(&server)
        .push_blob(DIGEST, missing)
        .await
        .unwrap_err();
    assert!(matches!(err, OllamaError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/dir/model.gguf"),
        "{err}"
    );
    assert!(server.requests().is_empty());
    assert!(matches!(
        sha256_file(missing).await,
        Err(OllamaError::Io { .. })
    ));
}

// ---- timeouts ----------------------------------------------------------------

#[tokio::test]
async fn silent_server_hits_the_read_timeout() {
    let server = TestServer::start(|_, _| {
        let mut steps = vec![Step::Sleep(ms(1500))];
        steps.extend(json(200, r#"{"models":[]}"#));
        steps
    })
    .await;
    let c = Client::builder(&server.url())
        .read_timeout(ms(150))
        .retry(RetryPolicy::NONE)
        .build()
        .unwrap();
    let err = c.tags().await.unwrap_err();
    assert!(
        matches!(err, OllamaError::Timeout { after, .. } if after == ms(150)),
        "{err:?}"
    );
    assert!(err.to_string().contains("150ms"), "{err}");
}

#[tokio::test]
async fn slow_but_progressing_pull_does_not_time_out() {
    // 8 lines 100 ms apart: far longer in total than the 500 ms idle timeout.
    let server = TestServer::start(|_, _| {
        let mut steps = vec![stream_head()];
        for i in 0..8 {
            steps.push(Step::Sleep(ms(100)));
            steps.push(chunk(&format!(
                "{{\"status\":\"pulling aa\",\"digest\":\"{DIGEST}\",\"total\":8,\"completed\":{i}}}\n"
            )));
        }
        steps.push(chunk("{\"status\":\"success\"}\n"));
        steps.push(end_chunks());
        steps
    })
    .await;
    let c = Client::builder(&server.url())
        .read_timeout(ms(50))
        .stream_idle_timeout(ms(500))
        .build()
        .unwrap();
    let items = collect(c.pull("m", false)).await;
    assert_eq!(items.len(), 9, "{items:?}");
    assert!(items.iter().all(Result::is_ok), "{items:?}");
}

#[tokio::test]
async fn stalled_pull_times_out() {
    let server = TestServer::start(|_, _| {
        vec![
            stream_head(),
            chunk("{\"status\":\"pulling manifest\"}\n"),
            Step::Sleep(ms(3000)),
            chunk("{\"status\":\"success\"}\n"),
            end_chunks(),
        ]
    })
    .await;
    let c = Client::builder(&server.url())
        .stream_idle_timeout(ms(200))
        .build()
        .unwrap();
    let items = collect(c.pull("m", false)).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        matches!(&items[1], Err(OllamaError::Timeout { endpoint, .. }) if endpoint.path == "/api/pull"),
        "{items:?}"
    );
}

// ---- configuration and values ------------------------------------------------

#[tokio::test]
async fn host_header_can_follow_the_url() {
    let server = TestServer::start(|_, _| respond(200, "text/plain", "Ollama is running")).await;
    let c = Client::builder(&server.url())
        .host_header(None)
        .build()
        .unwrap();
    c.heartbeat().await.unwrap();
    let expected = server.addr.to_string();
    assert_eq!(server.requests()[0].header("host"), Some(expected.as_str()));
}

#[test]
fn base_url_forms() {
    let base = |s: &str| Client::new(s).map(|c| c.base_url().to_owned());
    assert_eq!(base("127.0.0.1").unwrap(), "http://127.0.0.1:11434");
    assert_eq!(base("localhost:1234").unwrap(), "http://localhost:1234");
    assert_eq!(
        base(" http://10.0.0.8:11434/ ").unwrap(),
        "http://10.0.0.8:11434"
    );
    assert_eq!(
        base("https://ollama.example").unwrap(),
        "https://ollama.example"
    );
    assert_eq!(
        base("http://h:1/proxy/ollama/").unwrap(),
        "http://h:1/proxy/ollama"
    );
    for bad in ["", "ftp://x", "http://", "http://[::1"] {
        assert!(
            matches!(base(bad), Err(OllamaError::InvalidUrl { .. })),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn keep_alive_parses_and_serializes() {
    let ka = |s: &str| s.parse::<KeepAlive>();
    assert_eq!(ka("-1").unwrap(), KeepAlive::FOREVER);
    assert_eq!(ka("0").unwrap(), KeepAlive::UNLOAD);
    assert_eq!(ka("300").unwrap(), KeepAlive::Seconds(300));
    for ok in [
        "10m", "24h", "1h30m", "1.5h", "-1m", "500ms", "2us", "3µs", "0s",
    ] {
        assert_eq!(ka(ok).unwrap(), KeepAlive::Duration(ok.into()), "{ok}");
    }
    for bad in ["", "m", "10x", "abc", "1..5h", "10 m", "-"] {
        assert!(ka(bad).is_err(), "{bad:?} should be rejected");
    }
    assert!(ka("10x").unwrap_err().to_string().contains("10m"));
    assert_eq!(serde_json::to_value(KeepAlive::FOREVER).unwrap(), json!(-1));
    assert_eq!(
        serde_json::to_value(KeepAlive::Duration("5m".into())).unwrap(),
        json!("5m")
    );
    let back: KeepAlive = serde_json::from_value(json!("5m")).unwrap();
    assert_eq!(back.to_string(), "5m");
    let back: KeepAlive = serde_json::from_value(json!(60)).unwrap();
    assert_eq!(back, KeepAlive::Seconds(60));
    assert!(serde_json::from_value::<KeepAlive>(json!("soon")).is_err());
}

#[test]
fn progress_helpers() {
    let p = |total: Option<u64>, completed: Option<u64>, digest: Option<&str>| Progress {
        status: "x".into(),
        digest: digest.map(str::to_owned),
        total,
        completed,
    };
    assert_eq!(p(Some(10), Some(20), None).fraction(), Some(1.0));
    assert_eq!(p(Some(0), Some(0), None).fraction(), None);
    assert_eq!(p(None, Some(5), None).fraction(), None);
    assert_eq!(
        p(Some(1), Some(1), Some("0000000000000000000")).layer_digest(),
        None
    );
    assert_eq!(p(None, None, Some(DIGEST)).layer_digest(), Some(DIGEST));
}

#[test]
fn error_messages_say_what_where_and_what_to_do() {
    let endpoint = Endpoint {
        method: reqwest::Method::POST,
        path: "/api/pull".into(),
    };
    let base_url = "http://127.0.0.1:11434".to_owned();
    let timeout = OllamaError::Timeout {
        base_url: base_url.clone(),
        endpoint: endpoint.clone(),
        after: Duration::from_secs(300),
    };
    assert_eq!(
        timeout.to_string(),
        "Ollama at http://127.0.0.1:11434 sent nothing for 5m during POST /api/pull; \
         the server may be stuck or overloaded: try again, or raise the timeout"
    );
    let in_stream = OllamaError::Api {
        status: 200,
        message: "pull model manifest: file does not exist".into(),
        endpoint: endpoint.clone(),
        base_url: base_url.clone(),
    };
    assert_eq!(
        in_stream.to_string(),
        "Ollama at http://127.0.0.1:11434 reported an error during POST /api/pull: \
         pull model manifest: file does not exist"
    );
    let ended = OllamaError::StreamEndedEarly {
        endpoint,
        base_url,
        last_status: Some("pulling 6a0746a1ec1a".into()),
        reason: "the server closed the connection".into(),
    };
    let text = ended.to_string();
    assert!(
        text.contains("ended early")
            && text.contains("last status: pulling 6a0746a1ec1a")
            && text.contains("run the command again"),
        "{text}"
    );
    let io = OllamaError::Io {
        action: "open",
        path: "/m/model.gguf".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    };
    assert_eq!(io.to_string(), "cannot open `/m/model.gguf`");
    assert!(std::error::Error::source(&io).is_some());
}

// ---- end to end against the Python stand-in ---------------------------------

mod standin {
    use std::path::Path;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use futures_util::StreamExt;

    use super::super::*;

    const SCRIPT: &str = "tests/support/ollama_standin.py";

    /// Kills the stand-in when the test ends, pass or fail.
    struct Standin(tokio::process::Child);

    impl Drop for Standin {
        fn drop(&mut self) {
            let _ = self.0.start_kill();
        }
    }

    fn python3_available() -> bool {
        std::process::Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    async fn pull_to_success(c: &Client, name: &str) {
        let items: Vec<_> = c.pull(name, false).collect().await;
        let last = items.last().expect("pull yields progress");
        assert!(
            last.as_ref().is_ok_and(Progress::is_success),
            "pull {name}: {items:?}"
        );
    }

    #[tokio::test]
    async fn full_lifecycle_against_the_standin() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
        if !script.exists() {
            eprintln!("skipped: {SCRIPT} does not exist yet");
            return;
        }
        if !python3_available() {
            eprintln!("skipped: python3 is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("standin.log");
        let child = tokio::process::Command::new("python3")
            .arg(&script)
            .arg("serve")
            .env("OLLAMA_HOST", format!("127.0.0.1:{port}"))
            .env("OLLAMA_MODELS", dir.path().join("models"))
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the stand-in log"))
            .kill_on_drop(true)
            .spawn()
            .expect("start the stand-in");
        let _guard = Standin(child);

        let c = Client::builder(&format!("http://127.0.0.1:{port}"))
            .retry(RetryPolicy::NONE)
            .read_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match c.heartbeat().await {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!(
                    "stand-in not ready within 20 s: {e}\n--- its stderr ---\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        }

        let base = "llama3.2:1b";
        pull_to_success(&c, base).await;
        let tags = c.tags().await.unwrap();
        assert!(tags.iter().any(|m| m.name == base), "{tags:?}");
        let shown = c.show(base).await.unwrap().expect("pulled model is shown");
        assert!(!shown.details.format.is_empty() || !shown.modelfile.is_empty());

        c.copy(base, "copy/of:one").await.unwrap();
        assert!(c.show("copy/of:one").await.unwrap().is_some());

        let mut parameters = serde_json::Map::new();
        parameters.insert("num_ctx".into(), serde_json::json!(4096));
        let created: Vec<_> = c
            .create(CreateRequest {
                model: "me/brief:latest".into(),
                from: Some(base.into()),
                system: Some("Be brief.".into()),
                parameters,
                ..CreateRequest::default()
            })
            .collect()
            .await;
        assert!(
            created
                .last()
                .is_some_and(|p| p.as_ref().is_ok_and(Progress::is_success)),
            "{created:?}"
        );
        let brief = c.show("me/brief:latest").await.unwrap().expect("created");
        assert_eq!(brief.system, "Be brief.");
        assert!(brief.parameters.contains("num_ctx"), "{}", brief.parameters);

        c.load("me/brief:latest", Some(KeepAlive::FOREVER))
            .await
            .unwrap();
        let ps = c.ps().await.unwrap();
        assert!(ps.iter().any(|m| m.name == "me/brief:latest"), "{ps:?}");
        c.unload("me/brief:latest").await.unwrap();
        let ps = c.ps().await.unwrap();
        assert!(!ps.iter().any(|m| m.name == "me/brief:latest"), "{ps:?}");

        // Local file → streamed blob upload → create from `files`.
        let gguf = dir.path().join("local-Q8_0.gguf");
        let mut bytes = b"GGUF".to_vec();
        bytes.extend((0..200_000u32).map(|i| (i % 13) as u8));
        std::fs::write(&gguf, &bytes).unwrap();
        let digest = c.ensure_blob(&gguf).await.unwrap();
        assert!(c.blob_exists(&digest).await.unwrap());
        let created: Vec<_> = c
            .create(CreateRequest {
                model: "me/local:latest".into(),
                files: [("local-Q8_0.gguf".to_owned(), digest)].into(),
                ..CreateRequest::default()
            })
            .collect()
            .await;
        assert!(
            created
                .last()
                .is_some_and(|p| p.as_ref().is_ok_and(Progress::is_success)),
            "{created:?}"
        );
        assert!(
            c.tags()
                .await
                .unwrap()
                .iter()
                .any(|m| m.name == "me/local:latest")
        );

        // A pull cut mid-transfer reports it, and the next pull completes.
        let faults = format!("http://127.0.0.1:{port}/__standin/faults");
        let http = crate::http::client_builder().build().expect("client");
        let set = http
            .post(&faults)
            .json(&serde_json::json!({"drop_pull": ["dropme:1b"]}))
            .send()
            .await
            .unwrap();
        assert!(set.status().is_success());
        let items: Vec<_> = c.pull("dropme:1b", false).collect().await;
        assert!(
            matches!(
                items.last(),
                Some(Err(OllamaError::StreamEndedEarly { .. }))
            ),
            "{items:?}"
        );
        http.post(&faults)
            .json(&serde_json::json!({"reset": true}))
            .send()
            .await
            .unwrap();
        pull_to_success(&c, "dropme:1b").await;
        let missing: Vec<_> = c.pull("missing-model:1b", false).collect().await;
        assert!(
            matches!(
                missing.last(),
                Some(Err(OllamaError::Api { status: 200, .. }))
            ),
            "{missing:?}"
        );

        assert!(c.delete("copy/of:one").await.unwrap());
        assert!(!c.delete("copy/of:one").await.unwrap());
        assert!(c.show("copy/of:one").await.unwrap().is_none());
        let err = c.copy("missing:latest", "x:latest").await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
    }
}
