//! The HTML the server sends: one small shell per page (the script fills it from the JSON
//! API), and the error pages (403, 404, 500) rendered completely on the server.
//!
//! Invariant: every text that comes from the store or the request (task names, run keys,
//! error messages, the store path) goes through [`escape`] before it enters HTML.

use super::http::Response;

/// Which page a shell is for; the script reads it from `<body data-page>`.
pub enum Page<'a> {
    /// The store's tasks.
    Tasks,
    /// One task's runs: table and plots.
    Task(&'a str),
    /// One run.
    Run(&'a str, &'a str),
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, store: &str, body_attrs: &str, main: &str, script: bool) -> String {
    let scripts = if script {
        "<script src=\"/assets/plots.js\"></script><script src=\"/assets/app.js\"></script>"
    } else {
        ""
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · sweepstore</title>\
         <link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
         <body {body_attrs}><header><a class=\"brand\" href=\"/\">sweepstore</a>\
         <span class=\"store\">{store}</span><span id=\"live\"></span></header>\
         <nav id=\"crumbs\"></nav><main id=\"main\">{main}</main>{scripts}</body></html>\n",
        title = escape(title),
        store = escape(store),
    )
}

/// The shell of `page` for the store at `store` (its path, shown in the header).
pub fn shell(page: &Page<'_>, store: &str) -> Response {
    let (title, attrs) = match page {
        Page::Tasks => ("tasks".to_owned(), "data-page=\"tasks\"".to_owned()),
        Page::Task(task) => (
            (*task).to_owned(),
            format!("data-page=\"task\" data-task=\"{}\"", escape(task)),
        ),
        Page::Run(task, run) => (
            format!("{task} {}", &run[..run.len().min(12)]),
            format!(
                "data-page=\"run\" data-task=\"{}\" data-run=\"{}\"",
                escape(task),
                escape(run)
            ),
        ),
    };
    let main = "<p class=\"loading\">loading…</p>\
                <noscript>The dashboard needs JavaScript (its own, served by this \
                program; nothing is fetched from elsewhere).</noscript>";
    let html = document(&title, store, &attrs, main, true);
    Response::new(200, "text/html; charset=utf-8", html)
}

/// An error page: `status` with a one-line explanation.
pub fn error(status: u16, store: &str, message: &str) -> Response {
    let heading = match status {
        403 => "403 — not allowed",
        404 => "404 — not found",
        _ => "the store could not be read",
    };
    let main = format!(
        "<h1>{heading}</h1><p class=\"error\">{}</p><p><a href=\"/\">all tasks</a></p>",
        escape(message)
    );
    let html = document(heading, store, "data-page=\"error\"", &main, false);
    Response::new(status, "text/html; charset=utf-8", html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_text_is_escaped_in_pages() -> Result<(), std::string::FromUtf8Error> {
        let page = shell(&Page::Task("<script>\"x'"), "/tmp/a&b");
        let html = String::from_utf8(page.body)?;
        assert!(
            html.contains("data-task=\"&lt;script&gt;&quot;x&#39;\""),
            "{html}"
        );
        assert!(html.contains("/tmp/a&amp;b") && !html.contains("<script>\""));
        let missing = error(404, "s", "no run <b>");
        assert_eq!(missing.status, 404);
        assert!(String::from_utf8(missing.body)?.contains("no run &lt;b&gt;"));
        Ok(())
    }
}
