//! `kind: dashboard`: FaceRunner's web dashboard and REST API (the `web` module).
//!
//! Like the gateway it runs as its own process (`facerunner __dashboard …`,
//! this very binary), started and supervised by the project's daemon like
//! any service: it shows in `status` with its state, port and health probe,
//! and a fault in it never touches the daemon. It speaks to the daemon over
//! the project's Unix socket, so every action goes through the same
//! handlers as the CLI.
//!
//! Every request needs a token: two generated secrets (0600) in the
//! project's secrets directory, `<service>.dashboard_token` (full access)
//! and `<service>.dashboard_readonly_token` (reads only). A non-loopback
//! bind is refused unless `settings.bind` itself is non-loopback.

use std::time::Duration;

use super::{Context, Part, ServiceKind};
use crate::model::spec::{Check, is_loopback};

/// FaceRunner's dashboard.
pub struct Dashboard;

/// The port the dashboard listens on by default.
pub const DEFAULT_PORT: u16 = 8501;

/// The variable of the dashboard's environment that holds the hash of
/// `settings.webhooks` (present only when the file has webhooks).
pub const WEBHOOKS_ENV: &str = "FACERUNNER_WEBHOOKS_SHA256";

/// The file name of a dashboard's full-access token in the secrets directory.
pub fn token_name(service: &str) -> String {
    format!("{service}.dashboard_token")
}

/// The file name of a dashboard's read-only token in the secrets directory.
pub fn readonly_token_name(service: &str) -> String {
    format!("{service}.dashboard_readonly_token")
}

impl ServiceKind for Dashboard {
    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn part(&self, ctx: &Context<'_>) -> Result<Part, String> {
        if !is_loopback(ctx.bind) && is_loopback(&ctx.cfg.settings.bind) {
            return Err(format!(
                "the dashboard binds `{}`, outside this machine, but `settings.bind` is loopback; \
                 set `settings.bind: {}` to expose the project on purpose (and put TLS in front), \
                 or remove the service's `bind:`",
                ctx.bind, ctx.bind
            ));
        }
        let p = ctx.port.unwrap_or(DEFAULT_PORT);
        let mut argv = ctx.own_process("__dashboard", p)?;
        argv.push("--token-file".into());
        argv.push(
            ctx.secret_file(&token_name(ctx.name))?
                .display()
                .to_string(),
        );
        argv.push("--readonly-token-file".into());
        argv.push(
            ctx.secret_file(&readonly_token_name(ctx.name))?
                .display()
                .to_string(),
        );
        // The dashboard reads `settings.webhooks` from the file when it
        // starts; their hash in its environment makes a change restart it
        // (the values, secrets included, stay out of the spec).
        let mut env = std::collections::BTreeMap::new();
        if !ctx.cfg.settings.webhooks.is_empty() {
            use sha2::Digest;
            let json = serde_json::to_vec(&ctx.cfg.settings.webhooks).unwrap_or_default();
            env.insert(
                WEBHOOKS_ENV.to_string(),
                hex::encode(sha2::Sha256::digest(&json)),
            );
        }
        Ok(Part {
            argv,
            env,
            check: Some(Check::Http {
                url: format!("http://{}:{p}/healthz", ctx.host),
            }),
            start_period: Duration::from_secs(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::interpolate::Vars;
    use crate::config::load_str;
    use crate::config::resolve::{Secrets, resolve};
    use crate::model::spec::Check;
    use crate::paths::ProjectDirs;

    fn resolved(
        yaml: &str,
        dir: &std::path::Path,
        mode: Secrets,
    ) -> Result<crate::model::spec::ProjectSpec, String> {
        let loaded = load_str(&dir.join("facerunner.yaml"), yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        resolve(&loaded, &ProjectDirs::under(&dir.join("home"), "t"), mode)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_dashboard_runs_our_binary_with_both_token_files_and_is_probed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = "version: 1\nservices:\n  ui: { kind: dashboard }\n";
        let spec = resolved(yaml, dir.path(), Secrets::Peek).expect("resolves");
        let ui = spec.service("ui").expect("ui");
        assert_eq!(ui.argv[1], "__dashboard");
        assert!(ui.argv.iter().any(|a| a.ends_with("/ui.dashboard_token")));
        assert!(
            ui.argv
                .iter()
                .any(|a| a.ends_with("/ui.dashboard_readonly_token"))
        );
        assert!(matches!(
            &ui.probe.as_ref().expect("probe").check,
            Check::Http { url } if url == "http://127.0.0.1:8501/healthz"
        ));
        // Planning creates nothing; running creates both tokens, 0600.
        let secrets = dir.path().join("home/t/secrets");
        assert!(!secrets.join("ui.dashboard_token").exists());
        resolved(yaml, dir.path(), Secrets::Create).expect("resolves");
        for name in ["ui.dashboard_token", "ui.dashboard_readonly_token"] {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(secrets.join(name)).expect("token file");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_non_loopback_bind_needs_settings_bind_to_say_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = resolved(
            "version: 1\nservices:\n  ui: { kind: dashboard, bind: 0.0.0.0 }\n",
            dir.path(),
            Secrets::Peek,
        )
        .expect_err("refused");
        assert!(e.contains("settings.bind"), "{e}");
        resolved(
            "version: 1\nsettings: { bind: 0.0.0.0 }\nservices:\n  ui: { kind: dashboard }\n",
            dir.path(),
            Secrets::Peek,
        )
        .expect("explicit settings.bind is allowed");
    }
}
