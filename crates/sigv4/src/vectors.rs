//! The AWS signing test suite (`shared/testdata/aws-signing-test-suite/v4`): the header form
//! and the presigned (query) form of every case.

use crate::*;
use std::path::{Path, PathBuf};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/aws-signing-test-suite/v4")
}

struct Case {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_request(text: &str) -> Case {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().expect("request line");
    let first = first.strip_suffix(" HTTP/1.1").expect("HTTP/1.1");
    let (method, target) = first.split_once(' ').expect("method");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().expect("continuation follows a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (n, v) = line.split_once(':').expect("header");
            headers.push((n.to_string(), v.to_string()));
        }
    }
    Case {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: body.into(),
    }
}

fn case_dirs() -> Vec<PathBuf> {
    let dir = suite();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("the signing test suite is missing at {}", dir.display());
    };
    entries.map(|e| e.expect("entry").path()).collect()
}

/// A case's context, its unsigned request, and how its path is canonicalized.
fn load(case_dir: &Path) -> (serde_json::Value, Case, PathStyle) {
    let read = |f: &str| std::fs::read_to_string(case_dir.join(f)).expect(f);
    let context: serde_json::Value = serde_json::from_str(&read("context.json")).expect("json");
    let case = parse_request(&read("request.txt"));
    let style = if context["normalize"] == true {
        PathStyle::Normalized
    } else {
        PathStyle::Encoded
    };
    (context, case, style)
}

#[test]
fn every_header_vector_of_the_signing_suite_derives_the_same_signature() {
    let mut checked = 0;
    for case_dir in case_dirs() {
        let read = |f: &str| std::fs::read_to_string(case_dir.join(f)).expect(f);
        let (context, case, style) = load(&case_dir);
        let signed_request = parse_request(&read("header-signed-request.txt"));
        let auth_header = signed_request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone())
            .expect("authorization");
        let auth = Authorization::parse(&auth_header).expect("parses");
        let payload_hash = sha256_hex(case.body.as_bytes());
        let request = Request {
            method: &case.method,
            path: &case.path,
            query: &case.query,
            headers: &signed_request.headers,
            payload_hash: &payload_hash,
        };
        let canonical = canonical_request(&request, &auth.signed_headers, style);
        assert_eq!(
            canonical,
            read("header-canonical-request.txt"),
            "{}",
            case_dir.display()
        );
        let amz_date = "20150830T123600Z";
        let sts = string_to_sign(amz_date, &auth.scope, &canonical);
        assert_eq!(
            sts,
            read("header-string-to-sign.txt"),
            "{}",
            case_dir.display()
        );
        let secret = context["credentials"]["secret_access_key"]
            .as_str()
            .expect("secret");
        assert_eq!(
            signature(secret, &auth.scope, &sts),
            read("header-signature.txt").trim()
        );
        verify(&request, &auth, amz_date, secret, style).expect("verifies");
        let tampered = Request {
            method: if case.method == "GET" { "POST" } else { "GET" },
            ..request.clone()
        };
        assert_eq!(
            verify(&tampered, &auth, amz_date, secret, style),
            Err(Error::Mismatch)
        );
        let other_date = "20150830T123601Z";
        assert_eq!(
            verify(&request, &auth, other_date, secret, style),
            Err(Error::Mismatch)
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} cases found");
}

#[test]
fn every_presigned_vector_of_the_signing_suite_verifies_and_rejects_each_mutation() {
    let mut checked = 0;
    for case_dir in case_dirs() {
        let read = |f: &str| std::fs::read_to_string(case_dir.join(f)).expect(f);
        let (context, case, style) = load(&case_dir);
        let signed = parse_request(&read("query-signed-request.txt"));
        let presigned = Presigned::from_query(&signed.query)
            .expect("parses")
            .expect("is presigned");
        assert_eq!(presigned.expires_secs, 3600);
        assert_eq!(
            presigned.security_token.as_deref(),
            context["credentials"]["token"].as_str()
        );
        // `omit_session_token`: the token was added to the URL after signing, so the signature
        // covers the query without it.
        let signed_query = if context["omit_session_token"] == true {
            signed
                .query
                .split('&')
                .filter(|p| !p.starts_with("X-Amz-Security-Token="))
                .collect::<Vec<_>>()
                .join("&")
        } else {
            signed.query.clone()
        };
        let payload_hash = sha256_hex(case.body.as_bytes());
        let request = Request {
            method: &signed.method,
            path: &signed.path,
            query: &signed_query,
            headers: &signed.headers,
            payload_hash: &payload_hash,
        };
        let canonical = canonical_request(&request, &presigned.auth.signed_headers, style);
        assert_eq!(
            canonical,
            read("query-canonical-request.txt"),
            "{}",
            case_dir.display()
        );
        let sts = string_to_sign(&presigned.amz_date, &presigned.auth.scope, &canonical);
        assert_eq!(
            sts,
            read("query-string-to-sign.txt"),
            "{}",
            case_dir.display()
        );
        let secret = context["credentials"]["secret_access_key"]
            .as_str()
            .expect("secret");
        assert_eq!(presigned.auth.signature, read("query-signature.txt").trim());
        let amz_date = presigned.amz_date.as_str();
        verify(&request, &presigned.auth, amz_date, secret, style).expect("verifies");

        // Every signed part matters: the method, the path, each query parameter, the date, the key.
        let other_method = if signed.method == "GET" {
            "POST"
        } else {
            "GET"
        };
        let other_path = format!("{}x", signed.path);
        let mut mutations: Vec<Request<'_>> = vec![
            Request {
                method: other_method,
                ..request.clone()
            },
            Request {
                path: &other_path,
                ..request.clone()
            },
        ];
        let extra = format!("{signed_query}&extra=1");
        mutations.push(Request {
            query: &extra,
            ..request.clone()
        });
        for m in &mutations {
            assert_eq!(
                verify(m, &presigned.auth, amz_date, secret, style),
                Err(Error::Mismatch),
                "{}",
                case_dir.display()
            );
        }
        let expires_changed = signed
            .query
            .replace("X-Amz-Expires=3600", "X-Amz-Expires=3601");
        assert_eq!(
            verify(
                &Request {
                    query: &expires_changed,
                    ..request.clone()
                },
                &presigned.auth,
                amz_date,
                secret,
                style
            ),
            Err(Error::Mismatch)
        );
        assert_eq!(
            verify(&request, &presigned.auth, "20150830T123601Z", secret, style),
            Err(Error::Mismatch)
        );
        assert_eq!(
            verify(&request, &presigned.auth, amz_date, "not-the-secret", style),
            Err(Error::Mismatch)
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} cases found");
}

/// The password the aws CLI's `codecommit credential-helper` makes, as botocore computes it
/// (`SigV4Auth` over its `GIT` canonical request).
#[test]
fn git_password_matches_the_aws_cli_credential_helper() {
    let password = crate::git_password(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        "127.0.0.1",
        "/v1/repos/MyDemoRepo",
        "20161117T093000",
    );
    assert_eq!(
        password,
        "20161117T093000Zdc98bb90bd889ad1bda3f472ea23f144e6c81a61da6d980fc35373b8c6e945e9"
    );
}
