//! Nothing unauthenticated costs more than its refusal (issue 10, finding 3): unsigned and
//! badly signed requests with bodies of many megabytes are refused on their headers, their
//! bodies never read nor kept; the data dir and the server's memory stay flat, and a caller
//! refused too often is throttled.

use crate::durability::{call_target, start_with};
use serde_json::json;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a POST with `headers` and a body of `size` bytes over a raw connection and returns
/// the status the server answered with, if it answered before closing. The server may answer
/// and close without reading the body, so write errors are expected.
async fn post_raw(addr: SocketAddr, headers: &[(&str, &str)], size: usize) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut head = format!("POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {size}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        // A JSON array of numbers, the shape that once cost ~50 bytes of memory per byte.
        let mut chunk = b"[".to_vec();
        chunk.extend(std::iter::repeat_n(b"1,".iter().copied(), 32 * 1024).flatten());
        let mut sent = 0;
        while sent < size {
            let n = chunk.len().min(size - sent);
            if writer.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            sent += n;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    sending.abort();
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

#[tokio::test]
async fn unsigned_and_badly_signed_megabytes_leave_the_data_dir_and_memory_flat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with(dir.path(), &[]).await;
    // Warm up: the first calls allocate what every later call reuses.
    call_target(
        server.addr,
        "CodePipeline_20150709.ListPipelines",
        json!({}),
    )
    .await;
    let before_rss = rss_kib(server.pid());
    let before_disk = dir_bytes(dir.path());
    let target = ("x-amz-target", "CodePipeline_20150709.CreatePipeline");
    let json = ("content-type", "application/x-amz-json-1.1");
    let unknown_key = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDNOSUCHKEY/20160706/us-east-1/codepipeline/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
    );
    let now = sluice_model::time::amz_date(sluice_test_utils::wall_clock_ms());
    let date = ("x-amz-date", now.as_str());
    let mut answered = Vec::new();
    for i in 0..25usize {
        let size = (1 + i % 15) << 20;
        let status = if i % 2 == 0 {
            post_raw(server.addr, &[target, json], size).await
        } else {
            post_raw(server.addr, &[target, json, unknown_key, date], size).await
        };
        answered.extend(status);
    }
    for _ in 0..4 {
        answered.extend(post_raw(server.addr, &[target, json], 16 << 20).await);
    }
    assert!(
        answered.iter().all(|s| *s == 403 || *s == 400),
        "every answer is a refusal: {answered:?}"
    );
    // The refusals are on record, without their bodies.
    let reply = call_target(
        server.addr,
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreatePipeline"}], "MaxResults": 50}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page = reply.body.to_string().len();
    assert!(page < 200_000, "a page of refusals is {page} bytes");
    let events = reply.body["Events"].as_array().cloned().unwrap_or_default();
    assert!(!events.is_empty());
    for event in events {
        let document: serde_json::Value =
            serde_json::from_str(event["CloudTrailEvent"].as_str().expect("document"))
                .expect("json");
        assert!(document["requestParameters"].is_null(), "{document}");
    }
    let disk_growth = dir_bytes(dir.path()).saturating_sub(before_disk);
    let rss_growth = rss_kib(server.pid()).saturating_sub(before_rss);
    println!("refusing 29 requests of 1-16 MiB grew the data dir by {disk_growth} bytes and RSS by {rss_growth} KiB");
    // Each refusal is an audit event — a row and its lookup indexes' entries, a few WAL pages —
    // never its body: a single stored body (1 MiB at least) would break this bound.
    let refusals = 29;
    assert!(
        disk_growth < refusals * (48 << 10),
        "the data dir grew by {disk_growth} bytes"
    );
    assert!(rss_growth < 64 * 1024, "RSS grew by {rss_growth} KiB");
}

#[tokio::test]
async fn a_caller_refused_too_often_is_throttled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with(dir.path(), &[]).await;
    // Far more refusals at once than the burst allows (200, then 50 a second).
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..800 {
        let addr = server.addr;
        sends.spawn(async move {
            let target = ("x-amz-target", "CodePipeline_20150709.ListPipelines");
            post_raw(addr, &[target], 2).await
        });
    }
    let statuses: Vec<u16> = sends.join_all().await.into_iter().flatten().collect();
    let refused = statuses.iter().filter(|s| **s == 403).count();
    let throttled = statuses.iter().filter(|s| **s == 400).count();
    assert!(refused >= 200, "{refused} refused of {}", statuses.len());
    assert!(throttled > 0, "none of {} throttled", statuses.len());
}
