//! Which request gets which answer: the guard first, then pages, the JSON API, stored bytes
//! and the embedded assets.
//!
//! | path | answer |
//! |---|---|
//! | `/` | the tasks page |
//! | `/task/T` | task T's table and plots (404 if T has no runs) |
//! | `/task/T/run/KEY` | one run (KEY: all 64 hex digits; 404 if unknown) |
//! | `/api/tasks` | [`data::tasks`] |
//! | `/api/table?task=T&where=…&state=…&sort=…&columns=…&result=…` | the runs table |
//! | `/api/run?task=T&run=KEY` | [`data::run`] |
//! | `/api/version[?task=T]` | `{"version"}`, [`data::version`] |
//! | `/raw/T/KEY/NAME[?download]` | the verified stored bytes |
//! | `/assets/{app.js,plots.js,style.css}` | compiled into the binary |
//!
//! Invariant: nothing but the guard's verdict decides whether a request is answered, and no
//! route calls anything that writes to the store.

use std::path::PathBuf;

use serde_json::json;
use sweepstore::Error;

use super::data;
use super::guard::{Guard, Verdict};
use super::http::{RAW_POLICY, Request, Response, percent_encode};
use super::pages::{self, Page};
use super::table;
use crate::cli::store::open_existing;

/// Everything a request handler needs.
pub struct Ui {
    /// The store's directory. Every request that reads the store opens it again, as the CLI's
    /// read commands do (through its server if one answers, else read-only), and lets go of
    /// it when answered: the dashboard holds no lock between requests, so a sweep may start
    /// (and serve) while it runs, and a served sweep may end.
    pub path: PathBuf,
    /// Who may read it.
    pub guard: Guard,
    /// The store's path as the user gave it (shown in the header).
    pub label: String,
}

/// The answer to `request`.
pub fn respond(ui: &Ui, request: &Request) -> Response {
    match ui.guard.check(request) {
        Verdict::ForeignHost => {
            let message = "this dashboard answers only requests addressed to 127.0.0.1 or \
                           localhost on its own port";
            pages::error(403, &ui.label, message)
        }
        Verdict::NoToken => {
            let message = "open the URL that `sweepstore ui` printed: it carries the access token";
            pages::error(403, &ui.label, message)
        }
        Verdict::Allowed { set_cookie } => {
            let response = route(ui, request).unwrap_or_else(|e| failure(ui, request, &e));
            if set_cookie {
                response.with("Set-Cookie", ui.guard.set_cookie())
            } else {
                response
            }
        }
    }
}

/// A backend error as the caller expects it: JSON for the API, else an HTML page.
fn failure(ui: &Ui, request: &Request, error: &Error) -> Response {
    if request.segments.first().is_some_and(|s| s == "api") {
        let mut response = Response::json(&json!({ "error": error.to_string() }));
        response.status = 500;
        response
    } else {
        pages::error(500, &ui.label, &error.to_string())
    }
}

fn not_found(ui: &Ui, what: String) -> Response {
    pages::error(404, &ui.label, &what)
}

fn route(ui: &Ui, request: &Request) -> Result<Response, Error> {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        [] => return Ok(pages::shell(&Page::Tasks, &ui.label)),
        ["assets", "app.js"] => return Ok(asset("text/javascript", include_str!("assets/app.js"))),
        ["assets", "plots.js"] => {
            return Ok(asset("text/javascript", include_str!("assets/plots.js")));
        }
        ["assets", "style.css"] => return Ok(asset("text/css", include_str!("assets/style.css"))),
        _ => {}
    }
    let opened = open_existing(&ui.path)?;
    let store = opened.get();
    let task_param = request.param("task").unwrap_or_default();
    Ok(match segments.as_slice() {
        ["task", task] if data::task_exists(store, task)? => {
            pages::shell(&Page::Task(task), &ui.label)
        }
        ["task", task] => not_found(ui, format!("the store has no task `{task}`")),
        ["task", task, "run", key] => match data::find_run(store, task, key)? {
            Some(_) => pages::shell(&Page::Run(task, key), &ui.label),
            None => not_found(ui, format!("task `{task}` has no run with key `{key}`")),
        },
        ["api", "tasks"] => Response::json(&data::tasks(store)?),
        ["api", "table"] => table::respond(store, request)?,
        ["api", "run"] => {
            let key = request.param("run").unwrap_or_default();
            match data::find_run(store, task_param, key)? {
                Some(run) => Response::json(&data::run(store, &run)),
                None => api_not_found(format!("task `{task_param}` has no run `{key}`")),
            }
        }
        ["api", "version"] => {
            let version = data::version(store, request.param("task"))?;
            Response::json(&json!({ "version": version }))
        }
        ["raw", task, key, name] => match data::find_run(store, task, key)? {
            Some(run) if run.result(name).is_some() => {
                let bytes = data::result_bytes(store, &run, name)?;
                raw(bytes, name, request.query.contains_key("download"))
            }
            _ => not_found(ui, format!("no result `{name}` in run `{key}` of `{task}`")),
        },
        _ => not_found(ui, format!("nothing here: /{}", segments.join("/"))),
    })
}

fn api_not_found(message: String) -> Response {
    let mut response = Response::json(&json!({ "error": message }));
    response.status = 404;
    response
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    Response::new(200, content_type, text)
}

/// Stored bytes: an image inline, anything else (or on request) as a download; sandboxed so a
/// stored SVG or HTML opened directly runs nothing.
fn raw(bytes: Vec<u8>, name: &str, download: bool) -> Response {
    let image = data::image_type(&bytes).filter(|_| !download);
    let mut response = Response::new(200, image.unwrap_or("application/octet-stream"), bytes)
        .with("Content-Security-Policy", RAW_POLICY.to_owned());
    if image.is_none() {
        let disposition = format!("attachment; filename*=UTF-8''{}", percent_encode(name));
        response = response.with("Content-Disposition", disposition);
    }
    response
}
