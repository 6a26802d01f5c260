//! Hostile archives, one per rule, and a round trip.

use super::*;
use crate::{pack_dir, Error};
use std::io::Cursor;
use zip::write::SimpleFileOptions;

fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        zip.start_file(*name, options).expect("start");
        zip.write_all(body).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

fn open(bytes: Vec<u8>, limits: &UnpackLimits) -> (tempfile::TempDir, Result<UnpackSummary>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).expect("dest");
    let result = unpack(Cursor::new(bytes), &dest, limits);
    (dir, result)
}

fn refused(bytes: Vec<u8>) -> Error {
    let (dir, result) = open(bytes, &UnpackLimits::default());
    let err = result.expect_err("the archive must be refused");
    assert!(!dir.path().join("evil").exists() && !dir.path().join("out/evil").exists());
    err
}

#[test]
fn absolute_paths_are_refused() {
    let err = refused(archive(&[("/tmp/evil", b"x")]));
    assert!(
        matches!(
            err,
            Error::UnsafePath {
                reason: "absolute path",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn parent_directory_components_are_refused() {
    for name in ["../evil", "a/../../evil", "a/b/../../../evil"] {
        let err = refused(archive(&[(name, b"x")]));
        assert!(matches!(err, Error::UnsafePath { .. }), "{name}: {err}");
    }
}

#[test]
fn nothing_is_written_when_a_later_entry_is_unsafe() {
    let (dir, result) = open(
        archive(&[("good.txt", b"fine"), ("../evil", b"x")]),
        &UnpackLimits::default(),
    );
    assert!(result.is_err());
    assert!(
        !dir.path().join("out/good.txt").exists(),
        "names are checked before anything is written"
    );
}

#[test]
fn backslashes_are_refused() {
    let err = refused(archive(&[("..\\evil", b"x")]));
    assert!(
        matches!(
            err,
            Error::UnsafePath {
                reason: "backslash in the name",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn symlink_entries_are_refused() {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_symlink("evil", "/etc/passwd", SimpleFileOptions::default())
        .expect("symlink");
    let bytes = zip.finish().expect("finish").into_inner();
    let err = refused(bytes);
    assert!(
        matches!(err, Error::Link(ref name) if name == "evil"),
        "{err}"
    );
}

#[test]
fn duplicate_names_are_refused() {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    zip.start_file("a.txt", options).expect("start");
    zip.start_file("dir/../b.txt", options).expect("start");
    let bytes = zip.finish().expect("finish").into_inner();
    assert!(matches!(refused(bytes), Error::UnsafePath { .. }));
    let bytes = archive(&[("x/a.txt", b"1"), ("x/./a.txt", b"2")]);
    assert!(matches!(refused(bytes), Error::Duplicate(_)));
}

#[test]
fn too_many_entries_are_refused() {
    let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let limits = UnpackLimits {
        max_entries: 10,
        ..UnpackLimits::default()
    };
    let (_dir, result) = open(archive(&entries), &limits);
    assert!(matches!(result, Err(Error::TooManyEntries { limit: 10 })));
}

#[test]
fn total_size_is_counted_from_inflated_bytes() {
    // Incompressible, so only the size rule can refuse it.
    let body: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let limits = UnpackLimits {
        max_total_bytes: 256 * 1024,
        ..UnpackLimits::default()
    };
    let (_dir, result) = open(archive(&[("big", &body)]), &limits);
    assert!(matches!(result, Err(Error::TooLarge { .. })), "{result:?}");
}

#[test]
fn compression_bombs_are_refused() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let bytes = archive(&[("bomb", &zeros)]);
    assert!(
        bytes.len() < 64 * 1024,
        "eight MiB of zeros deflates to {} bytes",
        bytes.len()
    );
    let limits = UnpackLimits {
        max_ratio: 100,
        ..UnpackLimits::default()
    };
    let (_dir, result) = open(bytes, &limits);
    let err = result.expect_err("refused");
    assert!(
        matches!(err, Error::CompressionBomb { ref name, .. } if name == "bomb"),
        "{err}"
    );
}

#[test]
fn the_default_ratio_refuses_a_run_of_zeros() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let err = refused(archive(&[("bomb", &zeros)]));
    assert!(matches!(err, Error::CompressionBomb { .. }), "{err}");
}

#[test]
fn highly_repetitive_but_legitimate_text_passes_the_default_ratio() {
    // A log of one repeated line: legitimate, and far past 200:1.
    let text: Vec<u8> = b"2026-11-26 INFO health check ok\n"
        .iter()
        .copied()
        .cycle()
        .take(1024 * 1024)
        .collect();
    let bytes = archive(&[("generated.rs", &text)]);
    assert!(
        text.len() / bytes.len() > 200,
        "the text compresses {}:1",
        text.len() / bytes.len()
    );
    let (_dir, result) = open(bytes, &UnpackLimits::default());
    assert_eq!(result.expect("accepted").bytes, text.len() as u64);
}

#[test]
fn a_packed_directory_unpacks_byte_for_byte() {
    let src = tempfile::tempdir().expect("src");
    std::fs::create_dir_all(src.path().join("app/src")).expect("dirs");
    std::fs::write(src.path().join("app/src/main.rs"), b"fn main() {}\n").expect("write");
    std::fs::write(src.path().join("buildspec.yml"), b"version: 0.2\n").expect("write");
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(src.path().join("app/blob.bin"), &noise).expect("write");
    let mut bytes = Cursor::new(Vec::new());
    let packed = pack_dir(src.path(), &mut bytes).expect("pack");
    assert_eq!(packed.files, 3);
    let bytes = bytes.into_inner();
    let (dir, result) = open(bytes.clone(), &UnpackLimits::default());
    let summary = result.expect("unpack");
    assert_eq!((summary.files, summary.bytes), (3, packed.bytes));
    for file in ["app/src/main.rs", "buildspec.yml", "app/blob.bin"] {
        assert_eq!(
            std::fs::read(dir.path().join("out").join(file)).expect("read"),
            std::fs::read(src.path().join(file)).expect("read"),
            "{file}"
        );
    }
    // The same tree packs to the same bytes.
    let mut again = Cursor::new(Vec::new());
    pack_dir(src.path(), &mut again).expect("pack");
    assert_eq!(
        crate::sha256_hex(&again.into_inner()),
        crate::sha256_hex(&bytes)
    );
}

#[cfg(unix)]
#[test]
fn packing_refuses_to_follow_symlinks() {
    let src = tempfile::tempdir().expect("src");
    std::os::unix::fs::symlink("/etc/passwd", src.path().join("passwd")).expect("symlink");
    let err = pack_dir(src.path(), Cursor::new(Vec::new())).expect_err("refused");
    assert!(
        matches!(err, Error::LinkInDirectory(ref name) if name == "passwd"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn executable_bits_survive_and_nothing_else_does() {
    use std::os::unix::fs::PermissionsExt;
    let src = tempfile::tempdir().expect("src");
    let script = src.path().join("build.sh");
    std::fs::write(&script, b"#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    std::fs::write(src.path().join("data.txt"), b"x").expect("write");
    let mut bytes = Cursor::new(Vec::new());
    pack_dir(src.path(), &mut bytes).expect("pack");
    let (dir, result) = open(bytes.into_inner(), &UnpackLimits::default());
    result.expect("unpack");
    let mode = |f: &str| {
        std::fs::metadata(dir.path().join("out").join(f))
            .expect("meta")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("build.sh"), 0o755);
    assert_eq!(mode("data.txt") & 0o111, 0);
}
