//! The model endpoints: health, listing, show, pull, create, copy, delete,
//! load and unload. Each method documents how the server's status codes map
//! to its result; the retry and timeout rules are those of [`Client::send`].

use futures_util::Stream;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::client::Client;
use super::error::{Endpoint, OllamaError};
use super::progress::{Progress, progress_stream};
use crate::model::ollama::{CreateRequest, KeepAlive, ListModel, RunningModel, ShowResponse};

#[derive(Deserialize)]
struct VersionResponse {
    version: String,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct ModelList<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_vec")]
    models: Vec<T>,
}

fn null_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Serialize)]
struct ModelRef<'a> {
    model: &'a str,
}

#[derive(Serialize)]
struct PullRequest {
    model: String,
    insecure: bool,
    stream: bool,
}

#[derive(Serialize)]
struct CopyRequest<'a> {
    source: &'a str,
    destination: &'a str,
}

#[derive(Serialize)]
struct StreamedCreate {
    #[serde(flatten)]
    request: CreateRequest,
    stream: bool,
}

#[derive(Serialize)]
struct GenerateRequest<'a> {
    model: &'a str,
    prompt: &'a str,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_alive: Option<&'a KeepAlive>,
}

#[derive(Deserialize)]
struct GenerateResponse {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
}

impl Client {
    /// `GET /`: succeeds when the server is up and serving HTTP.
    ///
    /// For readiness polling, build the client with
    /// [`RetryPolicy::NONE`](super::RetryPolicy::NONE) and a short read
    /// timeout, and poll until a deadline.
    pub async fn heartbeat(&self) -> Result<(), OllamaError> {
        let ep = Endpoint::new(Method::GET, "/");
        let response = self
            .send_ok(&ep, self.read_timeout(), None, || Ok(self.request(&ep)))
            .await?;
        self.read_text(&ep, response).await.map(drop)
    }

    /// `GET /api/version`: the server version, e.g. `0.33.0` (`0.0.0` for dev builds).
    pub async fn version(&self) -> Result<String, OllamaError> {
        let ep = Endpoint::new(Method::GET, "/api/version");
        let response = self
            .send_ok(&ep, self.read_timeout(), None, || Ok(self.request(&ep)))
            .await?;
        let body: VersionResponse = self
            .read_json(&ep, response, "`{\"version\": ...}`")
            .await?;
        Ok(body.version)
    }

    /// `GET /api/tags`: installed models, newest first.
    pub async fn tags(&self) -> Result<Vec<ListModel>, OllamaError> {
        let ep = Endpoint::new(Method::GET, "/api/tags");
        let response = self
            .send_ok(&ep, self.read_timeout(), None, || Ok(self.request(&ep)))
            .await?;
        let list: ModelList<ListModel> = self
            .read_json(&ep, response, "`{\"models\": [...]}`")
            .await?;
        Ok(list.models)
    }

    /// `GET /api/ps`: models loaded in memory.
    pub async fn ps(&self) -> Result<Vec<RunningModel>, OllamaError> {
        let ep = Endpoint::new(Method::GET, "/api/ps");
        let response = self
            .send_ok(&ep, self.read_timeout(), None, || Ok(self.request(&ep)))
            .await?;
        let list: ModelList<RunningModel> = self
            .read_json(&ep, response, "`{\"models\": [...]}`")
            .await?;
        Ok(list.models)
    }

    /// `POST /api/show`: details of an installed model; `None` when it is
    /// not installed (404).
    pub async fn show(&self, name: &str) -> Result<Option<ShowResponse>, OllamaError> {
        let ep = Endpoint::new(Method::POST, "/api/show");
        let body = ModelRef { model: name };
        let response = self
            .send(&ep, self.read_timeout(), None, || {
                Ok(self.request(&ep).json(&body))
            })
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => self
                .read_json(&ep, response, "a model description object")
                .await
                .map(Some),
            _ => Err(self.api_error(&ep, response).await),
        }
    }

    /// `POST /api/pull`: downloads a model, yielding progress lines.
    ///
    /// Nothing is sent until the stream is first polled; dropping it cancels
    /// the download (Ollama keeps the parts and resumes on the next pull). The
    /// stream ends after a `success` line, or with one error as its last
    /// item: an in-stream `{"error": ...}` line becomes
    /// [`OllamaError::Api`] with status 200, and a connection that ends before
    /// `success` becomes [`OllamaError::StreamEndedEarly`]. `insecure` is only
    /// needed for `http://` registry names.
    pub fn pull(
        &self,
        name: &str,
        insecure: bool,
    ) -> impl Stream<Item = Result<Progress, OllamaError>> + Send + 'static {
        let body = PullRequest {
            model: name.to_owned(),
            insecure,
            stream: true,
        };
        progress_stream(self.clone(), Endpoint::new(Method::POST, "/api/pull"), body)
    }

    /// `POST /api/create`: builds a model from `from` and/or uploaded `files`,
    /// yielding progress lines (same stream rules as [`pull`](Self::pull)).
    pub fn create(
        &self,
        request: CreateRequest,
    ) -> impl Stream<Item = Result<Progress, OllamaError>> + Send + 'static {
        let body = StreamedCreate {
            request,
            stream: true,
        };
        progress_stream(
            self.clone(),
            Endpoint::new(Method::POST, "/api/create"),
            body,
        )
    }

    /// `DELETE /api/delete`: `Ok(true)` when deleted, `Ok(false)` when the
    /// model was not installed (404).
    pub async fn delete(&self, name: &str) -> Result<bool, OllamaError> {
        let ep = Endpoint::new(Method::DELETE, "/api/delete");
        let body = ModelRef { model: name };
        let response = self
            .send(&ep, self.read_timeout(), None, || {
                Ok(self.request(&ep).json(&body))
            })
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => self.read_text(&ep, response).await.map(|_| true),
            _ => Err(self.api_error(&ep, response).await),
        }
    }

    /// `POST /api/copy`: gives `source` a second name (only the manifest is
    /// copied). A missing source is an [`OllamaError::Api`] with status 404.
    pub async fn copy(&self, source: &str, destination: &str) -> Result<(), OllamaError> {
        let ep = Endpoint::new(Method::POST, "/api/copy");
        let body = CopyRequest {
            source,
            destination,
        };
        let response = self
            .send_ok(&ep, self.read_timeout(), None, || {
                Ok(self.request(&ep).json(&body))
            })
            .await?;
        self.read_text(&ep, response).await.map(drop)
    }

    /// Loads a model into memory (`POST /api/generate` with an empty prompt).
    /// `keep_alive` `None` uses the server's `OLLAMA_KEEP_ALIVE`.
    pub async fn load(&self, name: &str, keep_alive: Option<KeepAlive>) -> Result<(), OllamaError> {
        self.generate_empty(name, keep_alive.as_ref(), "load").await
    }

    /// Unloads a model (`keep_alive: 0`); succeeds even if it was not loaded.
    pub async fn unload(&self, name: &str) -> Result<(), OllamaError> {
        self.generate_empty(name, Some(&KeepAlive::UNLOAD), "unload")
            .await
    }

    async fn generate_empty(
        &self,
        name: &str,
        keep_alive: Option<&KeepAlive>,
        expect: &str,
    ) -> Result<(), OllamaError> {
        let ep = Endpoint::new(Method::POST, "/api/generate");
        let body = GenerateRequest {
            model: name,
            prompt: "",
            stream: false,
            keep_alive,
        };
        let response = self
            .send_ok(&ep, self.load_timeout(), None, || {
                Ok(self.request(&ep).json(&body))
            })
            .await?;
        let answer: GenerateResponse = self
            .read_json(&ep, response, "a generate answer with `done: true`")
            .await?;
        if !answer.done {
            return Err(OllamaError::BadResponse {
                endpoint: ep,
                base_url: self.base_url().to_owned(),
                expected: "`done: true` for an empty prompt",
                detail: "`done: false`".to_owned(),
            });
        }
        if answer.done_reason.as_deref() != Some(expect) {
            tracing::debug!(
                model = name,
                done_reason = ?answer.done_reason,
                expected = expect,
                "unexpected done_reason from /api/generate"
            );
        }
        Ok(())
    }
}
