//! Multipart uploads keep their parts encrypted at rest and check each listed ETag on
//! completion (issue 10, finding 8).

use sluice_test_utils::TestServer;

const MARKER: &[u8] = b"PLAINTEXT-PART-MARKER-0123456789";

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    text.split(open)
        .nth(1)
        .and_then(|rest| rest.split(close).next())
        .expect("the element")
}

fn blobs_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let path = entry.path();
            if path.is_dir() {
                blobs_contain(&path, needle)
            } else {
                std::fs::read(&path)
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            }
        })
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn parts_are_encrypted_at_rest_and_completion_checks_their_etags() {
    let server = TestServer::start().await;
    assert_eq!(server.s3("PUT", "/uploads-bucket", Vec::new()).await.0, 200);
    let (status, _, body) = server
        .s3("POST", "/uploads-bucket/big.bin?uploads", Vec::new())
        .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("xml");
    let upload = between(&text, "<UploadId>", "</UploadId>").to_string();
    let mut etags = Vec::new();
    for (n, part) in [(1, MARKER.repeat(1000)), (2, b"the last part".to_vec())] {
        let (status, headers, _) = server
            .s3(
                "PUT",
                &format!("/uploads-bucket/big.bin?partNumber={n}&uploadId={upload}"),
                part,
            )
            .await;
        assert_eq!(status, 200);
        etags.push(
            headers["etag"]
                .to_str()
                .expect("etag")
                .trim_matches('"')
                .to_string(),
        );
    }
    assert!(
        !blobs_contain(&server.data_dir().join("blobs"), MARKER),
        "a part is at rest in the clear"
    );
    let complete = |tags: &[String]| {
        let parts: String = tags
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>\"{t}\"</ETag></Part>",
                    i + 1
                )
            })
            .collect();
        format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>").into_bytes()
    };
    let path = format!("/uploads-bucket/big.bin?uploadId={upload}");
    let wrong = [
        etags[0].clone(),
        "0123456789abcdef0123456789abcdef".to_string(),
    ];
    let (status, _, body) = server.s3("POST", &path, complete(&wrong)).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("InvalidPart"));
    let (status, _, body) = server.s3("POST", &path, complete(&etags)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, object) = server
        .s3("GET", "/uploads-bucket/big.bin", Vec::new())
        .await;
    assert_eq!(status, 200);
    let mut expected = MARKER.repeat(1000);
    expected.extend_from_slice(b"the last part");
    assert_eq!(object, expected);
    server.stop().await;
}

#[tokio::test]
async fn an_upload_left_unfinished_for_a_week_is_removed_with_its_parts() {
    let server = TestServer::start().await;
    assert_eq!(server.s3("PUT", "/uploads-bucket", Vec::new()).await.0, 200);
    let (_, _, body) = server
        .s3("POST", "/uploads-bucket/left.bin?uploads", Vec::new())
        .await;
    let upload = between(
        &String::from_utf8(body).expect("xml"),
        "<UploadId>",
        "</UploadId>",
    )
    .to_string();
    let part = format!("/uploads-bucket/left.bin?partNumber=1&uploadId={upload}");
    assert_eq!(server.s3("PUT", &part, MARKER.to_vec()).await.0, 200);
    assert_eq!(
        server.sluice.expire_stale_uploads().await.expect("sweep"),
        0,
        "a fresh upload stays"
    );
    server.clock.advance_ms(8 * 24 * 3600 * 1000);
    assert_eq!(
        server.sluice.expire_stale_uploads().await.expect("sweep"),
        1
    );
    assert_eq!(
        files_under(&server.data_dir().join("blobs/uploads").join(&upload)),
        0,
        "its parts are gone"
    );
    // The signature's date follows the server's clock, which moved on.
    let (status, _, body) = server.s3("PUT", &part, MARKER.to_vec()).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("NoSuchUpload"));
    server.stop().await;
}
