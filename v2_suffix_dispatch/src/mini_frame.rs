//! # mini_frame: the framework of stage 2
//!
//! The server calls [`application`] with the path of every request whose name ends in `.py`,
//! and sends back the HTML it returns. The framework knows nothing of sockets or HTTP: a name
//! goes in, a page comes out. Stage 3 turns that split into a contract.
//!
//! The tutorial's pages show `time.ctime()` to prove they are made on each request. Ours show
//! the pid of the process that made them instead: it changes on every request as well (each
//! connection has a child of its own), and Rust's standard library has no calendar to print a
//! date with.
//!
//! ## Layout
//!
//! - [`application`]: which page a name gets.
//! - one function per page, then [`page`], the HTML document every page is wrapped in.

use std::process;

use shared::client::escape_html;

/// The page for `file_name`, such as `/login.py`.
pub fn application(file_name: &str) -> String {
    match file_name {
        "/login.py" => login(),
        "/register.py" => register(),
        // The tutorial writes a profile page but never routes to it. We route it: a page
        // nobody can reach is dead code (Rust would warn about it), and now it can be seen.
        "/profile.py" => profile(),
        _ => not_found(file_name),
    }
}

fn login() -> String {
    page(
        "登录",
        "<p>欢迎回来！请输入用户名和密码。（表单在后面的课程里才会真正工作。）</p>",
    )
}

fn register() -> String {
    page(
        "注册",
        "<p>第一次来？注册一个账号，就可以加入 mini-web 课程。</p>",
    )
}

fn profile() -> String {
    page("个人资料", "<p>这里以后会显示你的名字和学习进度。</p>")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_its_own_page() {
        assert!(application("/login.py").contains("<h1>登录</h1>"));
        assert!(application("/register.py").contains("<h1>注册</h1>"));
        assert!(application("/profile.py").contains("<h1>个人资料</h1>"));
        assert!(application("/other.py").contains("<h1>没有这个页面</h1>"));
    }

    #[test]
    fn the_fallback_escapes_the_name() {
        let page = application("/<b>.py");
        assert!(page.contains("&lt;b&gt;.py"));
        assert!(!page.contains("<b>"));
    }
}
