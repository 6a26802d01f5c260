//! Property tests: the SigV4 parsers take untrusted headers and query strings; whatever the
//! bytes, they answer with a value or an error, never a panic.

use crate::{parse_credential, Authorization, Presigned};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_authorization_header_parses_or_is_refused(header in ".{0,400}") {
        let _ = Authorization::parse(&header);
    }

    #[test]
    fn headers_shaped_like_sigv4_parse_or_are_refused(
        key in "[A-Z0-9]{0,24}",
        scope in "[a-z0-9/_-]{0,60}",
        signed in "[a-z0-9;-]{0,60}",
        signature in "[0-9a-f]{0,70}",
        junk in "[ ,=]{0,4}",
    ) {
        let header = format!("AWS4-HMAC-SHA256 Credential={key}/{scope},{junk}SignedHeaders={signed}, Signature={signature}");
        let _ = Authorization::parse(&header);
    }

    #[test]
    fn any_presigned_query_parses_or_is_refused(query in "(X-Amz-[A-Za-z]{0,12}=[A-Za-z0-9%/=_.-]{0,40}&?){0,8}") {
        let _ = Presigned::from_query(&query);
    }

    #[test]
    fn any_credential_scope_parses_or_is_refused(credential in ".{0,200}") {
        let _ = parse_credential(&credential);
    }
}
