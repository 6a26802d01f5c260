//! Property tests of the parsers the API runs on untrusted bytes: Query-protocol forms, S3's
//! XML bodies and `Range` headers, and `aws-chunked` upload bodies. Any input gives a value or
//! an error, never a panic; decoded output is never larger than the input.

use proptest::prelude::*;

proptest! {
    #[test]
    fn any_form_body_parses(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = crate::query::parse_form(&body);
    }

    #[test]
    fn any_xml_body_yields_text_or_nothing(doc in ".{0,300}", tag in "[A-Za-z]{0,10}") {
        let _ = crate::xml::text(&doc, &tag);
        let _ = crate::xml::all_text(&doc, &tag);
    }

    #[test]
    fn any_range_header_is_a_range_whole_or_refused(header in ".{0,40}", size in 0u64..1_000_000) {
        if let Ok(Some((start, end))) = crate::s3::parse_range(&header, size) {
            prop_assert!(start < end && end <= size);
        }
    }

    #[test]
    fn any_aws_chunked_body_decodes_to_at_most_its_length(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let len = body.len();
        let decoded = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(async move {
                use futures_util::StreamExt;
                let source = futures_util::stream::iter(vec![Ok(bytes::Bytes::from(body))]).boxed();
                let mut stream = crate::aws_chunked::decode(source);
                let mut total = 0;
                while let Some(Ok(chunk)) = stream.next().await {
                    total += chunk.len();
                }
                total
            });
        prop_assert!(decoded <= len);
    }
}
