//! `kind: dashboard`: FaceRunner's own dashboard. Accepted by the schema so
//! files can name it, refused at resolution until it is built.

use super::{Context, Part, ServiceKind};

/// FaceRunner's dashboard.
pub struct Dashboard;

/// The port the dashboard will listen on by default.
const DEFAULT_PORT: u16 = 8501;

impl ServiceKind for Dashboard {
    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn part(&self, _ctx: &Context<'_>) -> Result<Part, String> {
        Err("the dashboard kind is not available yet".into())
    }
}
