//! Property tests: artifacts and source bundles come from users; any bytes, and any damage to a
//! valid zip, unpack within the limits or are refused, never a panic, and nothing is written
//! outside the destination.

use crate::unpack::{unpack, UnpackLimits};
use proptest::prelude::*;
use std::io::Write;

fn valid_zip() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in [("a.txt", &b"hello"[..]), ("dir/b.bin", &[7u8; 300][..])] {
            zip.start_file(name, options).expect("start");
            zip.write_all(body).expect("write");
        }
        zip.finish().expect("finish");
    }
    out.into_inner()
}

fn limits() -> UnpackLimits {
    UnpackLimits {
        max_entries: 64,
        max_total_bytes: 1 << 20,
        ..UnpackLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_bytes_unpack_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("dest");
        let _ = unpack(std::io::Cursor::new(bytes), &dest, &limits());
        let outside: Vec<_> = std::fs::read_dir(dir.path()).expect("read").flatten().collect();
        prop_assert!(outside.len() <= 1, "something was written beside the destination");
    }

    #[test]
    fn a_damaged_zip_unpacks_or_is_refused(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12)) {
        let mut bytes = valid_zip();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("dest");
        let _ = unpack(std::io::Cursor::new(bytes), &dest, &limits());
        let outside: Vec<_> = std::fs::read_dir(dir.path()).expect("read").flatten().collect();
        prop_assert!(outside.len() <= 1, "something was written beside the destination");
    }
}
