//! What the table's DynamoDB stream records say: which of them are TTL deletions of lease
//! items (the stream path of the timed reset). Read with the key layout of [`super::keys`].

use super::keys::{conversation_of_pk, LEASE_SK};

/// The lease a DynamoDB stream record is about, when the record is a TTL deletion of a
/// lease item (`REMOVE` by the principal `dynamodb.amazonaws.com`); `None` for anything
/// else (user deletions, inserts, modifications, other items).
pub fn lease_of_stream_record(
    event_name: &str,
    principal_id: Option<&str>,
    identity_type: Option<&str>,
    pk: Option<&str>,
    sk: Option<&str>,
) -> Option<(String, String)> {
    let ttl_deletion = event_name == "REMOVE"
        && principal_id == Some("dynamodb.amazonaws.com")
        && identity_type.is_none_or(|t| t == "Service");
    if !ttl_deletion || sk != Some(LEASE_SK) {
        return None;
    }
    let (page_id, psid) = conversation_of_pk(pk?)?;
    Some((page_id.to_string(), psid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ttl_deletions_of_lease_items_are_leases() {
        let ttl = |pk: &str, sk: &str| {
            lease_of_stream_record(
                "REMOVE",
                Some("dynamodb.amazonaws.com"),
                Some("Service"),
                Some(pk),
                Some(sk),
            )
        };
        assert_eq!(
            ttl("CONV#111#222", "LEASE"),
            Some(("111".to_string(), "222".to_string()))
        );
        assert_eq!(ttl("CONV#111#222", "STATE"), None);
        assert_eq!(ttl("CONV#111#222", "TL#0000000000001#x"), None);
        assert_eq!(ttl("QUARANTINE#1001", "LEASE"), None);
        assert_eq!(ttl("CONV#111", "LEASE"), None);
        // A user deletion (our own transaction removing the lease) is not a TTL expiry.
        assert_eq!(
            lease_of_stream_record(
                "REMOVE",
                Some("AROAEXAMPLE:timed-reset"),
                None,
                Some("CONV#1#2"),
                Some("LEASE")
            ),
            None
        );
        assert_eq!(
            lease_of_stream_record(
                "MODIFY",
                Some("dynamodb.amazonaws.com"),
                Some("Service"),
                Some("CONV#1#2"),
                Some("LEASE")
            ),
            None
        );
    }
}
