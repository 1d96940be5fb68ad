mod config;
mod layers;
mod open_webui;
mod plan;
mod supervisor;
mod support;
mod watch;
