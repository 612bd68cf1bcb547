//! `GET /console`: the agents' console, one HTML page with its script and styles embedded
//! in the binary (no build step, no CDN; it works offline). The page itself is static and
//! needs no token: the agent enters the API token once (kept in the tab's
//! `sessionStorage`) and every call the page makes to the conversation API carries it.
//! The page lives beside the API (`<stage>/console` next to `<stage>/pages/...`), so it
//! calls the API on its own origin. Its Content-Security-Policy names the SHA-256 hash of
//! its one script and its one style sheet: nothing else runs (no `unsafe-inline`).

use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};

use routing_core::http::{route_segments, ApiError, Reply};

/// The console page (`console.html` beside this file).
pub const CONSOLE_HTML: &str = include_str!("console.html");

/// The console's Content-Security-Policy: its own inline script and styles (by hash),
/// calls to its own origin, never framed.
pub fn console_csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            inline_hashes("<script>", "</script>"),
            inline_hashes("<style>", "</style>"),
        )
    })
}

/// `'sha256-...'` of the content of every `open`...`close` block of the page.
fn inline_hashes(open: &str, close: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    CONSOLE_HTML
        .split(open)
        .skip(1)
        .filter_map(|block| block.split(close).next())
        .map(|content| format!("'sha256-{}'", engine.encode(Sha256::digest(content))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The answer to a request for the console: `Some` for the path `.../console` outside
/// `/pages/...` (so a conversation whose PSID is "console" is still a conversation), with
/// the page for `GET` and `HEAD` and 405 for any other method; `None` for every other path.
pub fn serve(method: &str, path: &str) -> Option<Reply> {
    if route_segments(path, "pages").is_some() || route_segments(path, "console")? != ["console"] {
        return None;
    }
    Some(match method {
        "GET" | "HEAD" => Reply::html(200, CONSOLE_HTML, console_csp()),
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
        assert!(CONSOLE_HTML.contains("sessionStorage"));
        // Its policy (a header) lets only the page's own script and styles run, and calls
        // only its own origin.
        let policy = serve("GET", "/console")
            .and_then(|r| r.csp)
            .expect("a policy");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(
            !CONSOLE_HTML.contains("unsafe-inline"),
            "nor a weaker one in the page"
        );
        assert!(
            !CONSOLE_HTML.contains(" style=\""),
            "inline style attributes need unsafe-inline"
        );
    }

    #[test]
    fn the_policy_names_the_hash_of_each_inline_script_and_style() {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let policy = serve("GET", "/console")
            .and_then(|r| r.csp)
            .expect("a policy");
        for (open, close, directive) in [
            ("<script>", "</script>", "script-src"),
            ("<style>", "</style>", "style-src"),
        ] {
            let blocks: Vec<&str> = CONSOLE_HTML.split(open).skip(1).collect();
            assert!(!blocks.is_empty(), "{open}");
            for block in blocks {
                let content = block.split(close).next().unwrap();
                let hash = base64::engine::general_purpose::STANDARD
                    .encode(Sha256::digest(content.as_bytes()));
                let source = format!("'sha256-{hash}'");
                let listed = policy
                    .split(';')
                    .find(|d| d.trim().starts_with(directive))
                    .is_some_and(|d| d.contains(&source));
                assert!(listed, "{directive} lacks {source}: {policy}");
            }
        }
    }
}
