//! `GET /api/v1/integrations`: the editor config `facerunner integrations
//! show` prints (Continue's model block, Zed's settings snippet), from the
//! same function, for the integrations page.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::Web;
use super::api::load_project;
use super::problem::Problem;
use crate::config::resolve::Secrets;

/// The handler.
pub async fn editor_config(State(web): State<Arc<Web>>) -> Result<Response, Problem> {
    let (loaded, spec) = load_project(&web, Secrets::Peek)?;
    Ok(Json(crate::plan::integrations_show::editor_config(
        &loaded, &spec,
    ))
    .into_response())
}
