//! `GET /console`: the agents' console, one HTML page with its script and styles embedded
//! in the binary (no build step, no CDN; it works offline). The page itself is static and
//! needs no token: the agent enters the API token once (kept in the tab's
//! `sessionStorage`) and every call the page makes to the conversation API carries it.
//! The page lives beside the API (`<stage>/console` next to `<stage>/pages/...`), so it
//! calls the API on its own origin.

use super::reply::{ApiError, Reply};
use super::routes::route_segments;

/// The console page (`console.html` beside this file).
pub const CONSOLE_HTML: &str = include_str!("console.html");

/// The answer to a request for the console: `Some` for the path `.../console` outside
/// `/pages/...` (so a conversation whose PSID is "console" is still a conversation), with
/// the page for `GET` and `HEAD` and 405 for any other method; `None` for every other path.
pub fn serve(method: &str, path: &str) -> Option<Reply> {
    if route_segments(path, "pages").is_some() || route_segments(path, "console")? != ["console"] {
        return None;
    }
    Some(match method {
        "GET" | "HEAD" => Reply::html(200, CONSOLE_HTML),
        _ => ApiError::method_not_allowed(format!(
            "{method} is not allowed on {path}: the console is GET only"
        ))
        .reply(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_served_after_any_prefix_and_only_there() {
        for path in [
            "/console",
            "/prod/console",
            "/lambda-url/control-handoff/console/",
        ] {
            let reply = serve("GET", path).expect("the console");
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.content_type, "text/html; charset=utf-8");
            assert!(reply.body.contains("<title>Agent console</title>"));
        }
        assert_eq!(serve("POST", "/console").map(|r| r.status), Some(405));
        assert_eq!(serve("GET", "/pages/1/conversations/console"), None);
        assert_eq!(serve("GET", "/console/extra"), None);
        assert_eq!(serve("GET", "/pages/1/conversations"), None);
    }

    #[test]
    fn the_page_loads_nothing_from_outside() {
        // No CDN, no remote fonts or scripts: every reference is on the page's own origin
        // (the one URL is the SVG namespace's name, never fetched).
        let page = CONSOLE_HTML.replace("\"http://www.w3.org/2000/svg\"", "");
        for forbidden in ["http://", "https://", "//cdn", "src=\"", "url("] {
            assert!(
                !page.contains(forbidden),
                "the console must not reference {forbidden}"
            );
        }
        assert!(CONSOLE_HTML.contains("connect-src 'self'"));
        assert!(CONSOLE_HTML.contains("sessionStorage"));
    }
}
