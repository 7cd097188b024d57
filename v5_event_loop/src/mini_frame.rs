//! # mini_frame: the framework of stage 4, a WSGI application with templates
//!
//! The server calls [`application`] for every request whose name ends in `.py`, with the
//! request described in an [`Environ`] and a [`StartResponse`] callback (both defined in
//! `main.rs`, where the server keeps its side of the contract). The framework calls
//! `start_response` once with the status and its headers, then returns the body. It still
//! knows nothing of sockets: it could run on any server that keeps the same contract.
//!
//! New in stage 4: `/index.py` and `/center.py` are HTML templates from the framework's own
//! folder, `templates/` in the config's `dynamic_path`, which the server passes in the environ
//! as [`DYNAMIC_PATH`]. The tutorial opens `./templates/index.html`, so its pages work only
//! when the server is started from the framework's folder.
//!
//! Every page is Chinese text sent as `text/html; charset=utf-8`. Without the charset, a
//! browser may guess another encoding and show mojibake: the header is part of the answer, and
//! now the framework writes it.
//!
//! ## Layout
//!
//! - [`application`]: which page a path gets, and with which status.
//! - the pages; the template ones read their file with [`read_template`] and [`fill`] it.
//! - [`page`], the HTML document every other page is wrapped in.
//! - "Broken on purpose": routes that break the contract, to see the server guard it.

use std::fs;
use std::path::Path;
use std::process;
use std::sync::LazyLock;

use regex::{NoExpand, Regex};
use shared::client::escape_html;

use crate::{Environ, StartResponse, DYNAMIC_PATH};

/// The WSGI entry point: the server's only way in.
pub fn application(environ: &Environ, start_response: &mut StartResponse) -> String {
    let file_name = environ.get("PATH_INFO").map_or("", String::as_str);
    let (status, body) = match file_name {
        "/index.py" => from_template(index(environ)),
        "/center.py" => from_template(center(environ)),
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

/// `templates/index.html`, its `{%content%}` filled in at each request.
fn index(environ: &Environ) -> Result<String, String> {
    let template = read_template(environ, "index.html")?;
    Ok(fill(
        &template,
        "<p>欢迎来到 mini-web！这一页的外框是模板文件，这一段是框架在请求到来时填进去的。</p>\n\
         <p>模板在哪里，框架不靠猜：服务器读了配置文件，在 environ 里告诉它。</p>",
    ))
}

/// `templates/center.html`: the same framework, another template.
fn center(environ: &Environ) -> Result<String, String> {
    let template = read_template(environ, "center.html")?;
    Ok(fill(
        &template,
        "<p>这里将来会显示来自数据库的数据，现在先放一句话。</p>\n\
         <p>比如一件商品卖 $1.50：美元符号原样留下，因为填充时用了 NoExpand。</p>",
    ))
}

/// A page from a template, or a 500 page if the template could not be read: the framework
/// answers for its own files, so the server sees a status, never a panic.
fn from_template(made: Result<String, String>) -> (&'static str, String) {
    match made {
        Ok(body) => ("200 OK", body),
        Err(why) => ("500 Internal Server Error", page("服务器内部错误", &why)),
    }
}

/// Reads `templates/<name>` from the framework's folder, which the server names in the environ.
/// On failure, the server's log gets the whole reason and the client a short one (HTML): a
/// page should not show strangers where the server keeps its files.
fn read_template(environ: &Environ, name: &str) -> Result<String, String> {
    let Some(folder) = environ.get(DYNAMIC_PATH) else {
        shared::log!("mini_frame: the environ has no {DYNAMIC_PATH}: no way to find {name}");
        return Err(format!(
            "<p>服务器没有告诉框架模板在哪里（{DYNAMIC_PATH}）。</p>"
        ));
    };
    let path = Path::new(folder).join("templates").join(name);
    fs::read_to_string(&path).map_err(|error| {
        shared::log!(
            "mini_frame: cannot read the template {}: {error}",
            path.display()
        );
        format!("<p>模板 <code>templates/{name}</code> 读不出来，原因写在服务器的日志里。</p>")
    })
}

/// The placeholder a template marks its content with (the tutorial's `\{%content%\}`).
static CONTENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%content%\}").expect("a constant pattern") // ok: tested by `fill_is_literal`
});

/// Compiles [`CONTENT`] and fills a template once. The server calls this before it forks, so
/// each child inherits the compiled regex and its scratch space instead of making its own.
pub fn warm_up() {
    let _ = fill("{%content%}", "");
}

/// Puts `content` where the template says `{%content%}`, as the tutorial's `re.sub` does.
/// `NoExpand`: a replacement string is a little language of its own (`$1` and `${name}` stand
/// for what the pattern matched), so a `$` in the content would be eaten, silently. NoExpand
/// takes the text as it is. (`re.sub` has the same trap with `\1`.)
fn fill(template: &str, content: &str) -> String {
    CONTENT
        .replace_all(template, NoExpand(content))
        .into_owned()
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
        let dynamic = concat!(env!("CARGO_MANIFEST_DIR"), "/dynamic");
        let environ = Environ::from([
            ("PATH_INFO".to_string(), path.to_string()),
            (DYNAMIC_PATH.to_string(), dynamic.to_string()),
        ]);
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
            ("/center.py", "200 OK", "<h1>个人中心</h1>"),
            ("/login.py", "200 OK", "<h1>登录</h1>"),
            ("/other.py", "404 Not Found", "<h1>没有这个页面</h1>"),
        ] {
            let (calls, body) = call(path);
            assert_eq!(calls, [(status.to_string(), html_headers())], "{path}");
            assert!(body.contains(title), "{path}");
        }
    }

    #[test]
    fn templates_are_filled_once_and_literally() {
        for (path, filled) in [("/index.py", "填进去的"), ("/center.py", "$1.50")] {
            let body = call(path).1;
            assert!(!body.contains("{%content%}"), "{path}");
            assert!(body.contains(filled), "{path}");
        }
    }

    #[test]
    fn fill_is_literal() {
        let filled = fill("<p>{%content%}</p>", "$1 ${x} \\1");
        assert_eq!(filled, "<p>$1 ${x} \\1</p>");
    }

    #[test]
    fn a_template_that_cannot_be_read_is_a_500_page() {
        let missing = Environ::from([
            ("PATH_INFO".to_string(), "/center.py".to_string()),
            (DYNAMIC_PATH.to_string(), "/no/such/folder".to_string()),
        ]);
        let unsaid = Environ::from([("PATH_INFO".to_string(), "/index.py".to_string())]);
        for environ in [missing, unsaid] {
            let mut calls = Vec::new();
            let body = application(&environ, &mut |status: &str, _| {
                calls.push(status.to_string());
            });
            assert_eq!(calls, ["500 Internal Server Error"]);
            assert!(body.contains("服务器内部错误"));
            assert!(
                !body.contains("/no/such/folder"),
                "the page shows the folder"
            );
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
