mod config;
mod hostile;
mod layers;
mod open_webui;
mod plan;
mod supervisor;
mod support;
mod watch;
