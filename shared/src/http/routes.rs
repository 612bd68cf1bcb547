//! Routing on the path after any prefix (an API Gateway stage, or `cargo lambda watch`'s
//! `/lambda-url/<function>`).

/// The segments of `path` from the *last* occurrence of `anchor` on, so that
/// `/prod/webhook/1001` and `/lambda-url/webhook-ingest/webhook/1001` both route as
/// `["webhook", "1001"]`; `None` when `anchor` does not occur.
pub fn route_segments<'p>(path: &'p str, anchor: &str) -> Option<Vec<&'p str>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let start = segments.iter().rposition(|s| *s == anchor)?;
    Some(segments[start..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_after_any_prefix() {
        assert_eq!(
            route_segments("/webhook/1001", "webhook"),
            Some(vec!["webhook", "1001"])
        );
        assert_eq!(
            route_segments("/prod/webhook/1001", "webhook"),
            Some(vec!["webhook", "1001"])
        );
        assert_eq!(
            route_segments("/lambda-url/webhook-ingest/webhook/1001/", "webhook"),
            Some(vec!["webhook", "1001"])
        );
        assert_eq!(route_segments("/other/1001", "webhook"), None);
    }
}
