//! # mini_frame: the framework of stage 3, a WSGI application
//!
//! The server calls [`application`] for every request whose name ends in `.py`, with the
//! request described in an [`Environ`] and a [`StartResponse`] callback (both defined in
//! `main.rs`, where the server keeps its side of the contract). The framework calls
//! `start_response` once with the status and its headers, then returns the body. It still
//! knows nothing of sockets: it could run on any server that keeps the same contract.
//!
//! Every page is Chinese text sent as `text/html; charset=utf-8`. Without the charset, a
//! browser may guess another encoding and show mojibake: the header is part of the answer, and
//! now the framework writes it.
//!
//! ## Layout
//!
//! - [`application`]: which page a path gets, and with which status.
//! - the pages, then [`page`], the HTML document every page is wrapped in.
//! - "Broken on purpose": routes that break the contract, to see the server guard it.

use std::process;

use shared::client::escape_html;

use crate::{Environ, StartResponse};

/// The WSGI entry point: the server's only way in.
pub fn application(environ: &Environ, start_response: &mut StartResponse) -> String {
    let file_name = environ.get("PATH_INFO").map_or("", String::as_str);
    let (status, body) = match file_name {
        "/index.py" => ("200 OK", index()),
        "/login.py" => ("200 OK", login()),
        "/environ.py" => ("200 OK", show_environ(environ)),
        // Broken on purpose: each answers in its own wrong way. See the end of this file.
        "/broken/no_start.py" => return no_start(),
        "/broken/twice.py" => return twice(start_response),
        "/broken/bad_status.py" => return bad_status(start_response),
        "/broken/bad_header.py" => return bad_header(start_response),
        "/broken/panic.py" => {
            panic!("{file_name} is broken on purpose: the server must answer 500")
        }
        // The tutorial greets any other name with 200. A page that is not there is a 404, and
        // now that the framework writes the status, it can say so.
        _ => ("404 Not Found", not_found(file_name)),
    };
    start_response(status, html_headers());
    body
}

/// The one header every page here sends. The charset is what lets the Chinese through.
fn html_headers() -> Vec<(String, String)> {
    vec![(
        "Content-Type".to_string(),
        "text/html; charset=utf-8".to_string(),
    )]
}

fn index() -> String {
    page(
        "主页",
        "<p>欢迎来到 mini-web！这一页不是文件，是框架刚刚写出来的。</p>\n\
         <p>看看框架从服务器那里知道了什么：<a href=\"/environ.py?from=index\">/environ.py</a></p>",
    )
}

fn login() -> String {
    page(
        "登录",
        "<p>欢迎回来！请输入用户名和密码。（表单在后面的课程里才会真正工作。）</p>",
    )
}

/// Everything the server told the framework about this request, as a table. Each value came
/// from the client: escaped, or a header like `X-A: <script>…` would run in the browser.
fn show_environ(environ: &Environ) -> String {
    let rows: String = environ
        .iter()
        .map(|(key, value)| {
            format!(
                "<tr><th>{}</th><td><code>{}</code></td></tr>\n",
                escape_html(key),
                escape_html(value)
            )
        })
        .collect();
    page(
        "environ：框架看到的请求",
        &format!("<table>\n{rows}</table>"),
    )
}

/// Any other `.py` name. The name came from the client: escape it before it goes into HTML,
/// or `/<script>….py` would run in the reader's browser.
fn not_found(file_name: &str) -> String {
    page(
        "没有这个页面",
        &format!(
            "<p>框架里没有 <code>{}</code> 这个页面。</p>",
            escape_html(file_name)
        ),
    )
}

/// A whole small HTML document: `body` must already be HTML, with any text from the request
/// escaped. The last line says which process made the page.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"zh-CN\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <title>{title} · mini-web</title>\n\
         <link rel=\"stylesheet\" href=\"/css/style.css\">\n\
         </head>\n\
         <body>\n\
         <main class=\"wrap\">\n\
         <h1>{title}</h1>\n\
         {body}\n\
         <p><small>这一页刚刚由进程 {pid} 生成。</small></p>\n\
         <p><a href=\"/\">&larr; 返回首页</a></p>\n\
         </main>\n\
         </body>\n\
         </html>\n",
        pid = process::id()
    )
}

// ---------------------------------------------------------------------------------------------
// Broken on purpose.
//
// A real framework would not have these routes. Each breaks the contract in one way, so you can
// watch the server guard its side (`curl -i` them: every one gets a 500 page, none a dropped
// connection), and the tests use them to prove it. Try breaking it in a way of your own.
// ---------------------------------------------------------------------------------------------

/// Returns a body but never calls `start_response`: the server has no status to send.
fn no_start() -> String {
    page("坏了：没有状态", "<p>你不应该看到这一页。</p>")
}

/// Calls `start_response` twice: which answer is the real one?
fn twice(start_response: &mut StartResponse) -> String {
    start_response("200 OK", html_headers());
    start_response("404 Not Found", html_headers());
    page("坏了：两个状态", "<p>你不应该看到这一页。</p>")
}

/// A status without its code: HTTP needs `200 OK`, not `OK`.
fn bad_status(start_response: &mut StartResponse) -> String {
    start_response("OK", html_headers());
    page("坏了：状态不对", "<p>你不应该看到这一页。</p>")
}

/// A header value with a line break in it: sent on, it would add a header of its own choosing
/// (here a cookie) to the response. This is how "header injection" attacks work.
fn bad_header(start_response: &mut StartResponse) -> String {
    let mut headers = html_headers();
    headers.push((
        "X-Note".to_string(),
        "hi\r\nSet-Cookie: stolen=1".to_string(),
    ));
    start_response("200 OK", headers);
    page("坏了：头部不对", "<p>你不应该看到这一页。</p>")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call to start_response: its status and headers.
    type Calls = Vec<(String, Vec<(String, String)>)>;

    /// Calls the application on `path` and returns every start_response call and the body.
    fn call(path: &str) -> (Calls, String) {
        let environ = Environ::from([("PATH_INFO".to_string(), path.to_string())]);
        let mut calls = Vec::new();
        let body = application(&environ, &mut |status: &str, headers| {
            calls.push((status.to_string(), headers));
        });
        (calls, body)
    }

    #[test]
    fn pages_set_status_and_charset_once() {
        for (path, status, title) in [
            ("/index.py", "200 OK", "<h1>主页</h1>"),
            ("/login.py", "200 OK", "<h1>登录</h1>"),
            ("/other.py", "404 Not Found", "<h1>没有这个页面</h1>"),
        ] {
            let (calls, body) = call(path);
            assert_eq!(calls, [(status.to_string(), html_headers())], "{path}");
            assert!(body.contains(title), "{path}");
        }
    }

    #[test]
    fn environ_is_escaped() {
        let environ = Environ::from([
            ("PATH_INFO".to_string(), "/environ.py".to_string()),
            ("HTTP_X_A".to_string(), "<script>".to_string()),
        ]);
        let body = application(&environ, &mut |_: &str, _| {});
        assert!(body.contains("&lt;script&gt;"));
        assert!(!body.contains("<script>"));
    }

    #[test]
    fn broken_routes_break_the_contract() {
        assert!(call("/broken/no_start.py").0.is_empty());
        assert_eq!(call("/broken/twice.py").0.len(), 2);
        assert_eq!(call("/broken/bad_status.py").0[0].0, "OK");
        assert!(call("/broken/bad_header.py").0[0]
            .1
            .iter()
            .any(|(_, v)| v.contains('\n')));
        let panicked = std::panic::catch_unwind(|| call("/broken/panic.py"));
        assert!(panicked.is_err());
    }
}
