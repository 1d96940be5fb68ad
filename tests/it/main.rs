mod config;
mod open_webui;
mod supervisor;
mod support;
mod watch;
mod plan;
