//! Attachments (photos, reply letters, recordings): which files are taken, decided by their
//! content; what an image keeps of its metadata; who sees a confidential case's files; how a
//! file name is sent back; and the signed links public endpoints hand out. Pure rules: the
//! service reads and writes the rows and the object store.

use std::io::Cursor;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use img_parts::{ImageEXIF, jpeg::Jpeg, png::Png, webp::WebP};
use sha2::Sha256;

/// The kinds of file a case takes. Anything else is refused (415), whatever its name or the
/// client's `Content-Type` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum MediaType {
    Jpeg,
    Png,
    Webp,
    Heic,
    Pdf,
    /// 开放版式文档 (GB/T 33190), the Chinese official document format: a zip with `OFD.xml`.
    Ofd,
    Mp3,
    Amr,
    M4a,
    Mp4,
    Docx,
    Xlsx,
}

impl MediaType {
    /// The type of `content`, from its first bytes (and, for zip containers, the names of the
    /// entries in its directory); `None` when it is none of the accepted types.
    pub fn detect(content: &[u8]) -> Option<MediaType> {
        let detected = infer::get(content)?;
        Some(match detected.mime_type() {
            "image/jpeg" => MediaType::Jpeg,
            "image/png" => MediaType::Png,
            "image/webp" => MediaType::Webp,
            "image/heif" => MediaType::Heic,
            "application/pdf" => MediaType::Pdf,
            "audio/mpeg" => MediaType::Mp3,
            "audio/amr" => MediaType::Amr,
            "audio/m4a" | "audio/x-m4a" => MediaType::M4a,
            "video/mp4" => MediaType::Mp4,
            // Office files and OFD are zip archives: what is inside decides, not the first
            // bytes (a zip of anything else is not taken).
            "application/zip"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
                return zip_kind(content);
            }
            _ => return None,
        })
    }

    /// The `Content-Type` it is served with.
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Webp => "image/webp",
            MediaType::Heic => "image/heic",
            MediaType::Pdf => "application/pdf",
            MediaType::Ofd => "application/ofd",
            MediaType::Mp3 => "audio/mpeg",
            MediaType::Amr => "audio/amr",
            MediaType::M4a => "audio/mp4",
            MediaType::Mp4 => "video/mp4",
            MediaType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            MediaType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn parse(mime: &str) -> Option<MediaType> {
        use strum::IntoEnumIterator;
        MediaType::iter().find(|t| t.mime() == mime)
    }

    /// Whether a small JPEG preview can be made of it.
    pub fn has_thumbnail(self) -> bool {
        matches!(self, MediaType::Jpeg | MediaType::Png | MediaType::Webp)
    }

    /// The accepted types, for the error message and the documentation.
    pub const LIST: &'static str =
        "JPEG, PNG, WebP, HEIC, PDF, OFD, MP3, AMR, M4A, MP4, DOCX, XLSX";
}

/// The kind of a readable zip archive, by the entry each format requires.
fn zip_kind(content: &[u8]) -> Option<MediaType> {
    let archive = zip::ZipArchive::new(Cursor::new(content)).ok()?;
    [
        ("word/document.xml", MediaType::Docx),
        ("xl/workbook.xml", MediaType::Xlsx),
        ("OFD.xml", MediaType::Ofd),
    ]
    .into_iter()
    .find(|(entry, _)| archive.index_for_name(entry).is_some())
    .map(|(_, kind)| kind)
}

/// An image that claims a type and is not one.
#[derive(Debug, thiserror::Error)]
#[error("the image could not be read: {0}")]
pub struct BrokenImage(String);

/// `content` without the metadata that can identify a person or a place: EXIF (GPS position,
/// device serial, time), XMP and IPTC blocks, PNG text chunks. Only the EXIF orientation is
/// kept (as an EXIF block of that one field), so that the photo still shows upright. Other
/// types are returned as they are.
///
/// The result is the file in pieces (slices of `content` and the new EXIF block, in order):
/// joining them would copy every byte once more, and a store writes pieces as well as one.
pub fn strip_metadata(media: MediaType, content: Bytes) -> Result<Vec<Bytes>, BrokenImage> {
    let broken = |e: img_parts::Error| BrokenImage(e.to_string());
    match media {
        MediaType::Jpeg => {
            let mut jpeg = Jpeg::from_bytes(content).map_err(broken)?;
            let orientation = jpeg.exif().and_then(|exif| orientation_of(&exif));
            jpeg.set_exif(None);
            // APP1 also carries XMP, APP13 IPTC (Photoshop): both can hold places and names.
            jpeg.remove_segments_by_marker(img_parts::jpeg::markers::APP1);
            jpeg.remove_segments_by_marker(img_parts::jpeg::markers::APP13);
            jpeg.set_exif(orientation.map(orientation_exif));
            Ok(jpeg.encoder().collect())
        }
        MediaType::Png => {
            let mut png = Png::from_bytes(content).map_err(broken)?;
            let orientation = png.exif().and_then(|exif| orientation_of(&exif));
            png.set_exif(None);
            for kind in [*b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                png.remove_chunks_by_type(kind);
            }
            png.set_exif(orientation.map(orientation_exif));
            Ok(png.encoder().collect())
        }
        MediaType::Webp => {
            let mut webp = WebP::from_bytes(content).map_err(broken)?;
            let orientation = webp.exif().and_then(|exif| orientation_of(&exif));
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            webp.set_exif(orientation.map(orientation_exif));
            Ok(webp.encoder().collect())
        }
        _ => Ok(vec![content]),
    }
}

/// The EXIF orientation (1–8) of a TIFF-structured EXIF block, when it is not the default 1.
fn orientation_of(exif: &[u8]) -> Option<u16> {
    let exif = exif::Reader::new().read_raw(exif.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    u16::try_from(value).ok().filter(|v| (2..=8).contains(v))
}

/// An EXIF block holding the orientation and nothing else.
fn orientation_exif(orientation: u16) -> Bytes {
    let field = exif::Field {
        tag: exif::Tag::Orientation,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Short(vec![orientation]),
    };
    let mut writer = exif::experimental::Writer::new();
    writer.push_field(&field);
    let mut out = Cursor::new(Vec::new());
    writer
        .write(&mut out, false)
        .expect("one short field always encodes");
    Bytes::from(out.into_inner())
}

/// The name a file is stored and sent back under: the client's name without any folder, control
/// characters or bidirectional overrides, at most 200 characters; `fallback` when nothing is left.
pub fn clean_file_name(raw: Option<&str>, fallback: &str) -> String {
    let base = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned
    }
}

/// Who looks at an attachment, for [`may_see`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// The centre's desks and administrators.
    Centre,
    /// A department's staff or administrator (the case dispatched to them).
    Department,
    /// The citizen whose case it is, or the client that registered it.
    Owner,
}

/// Whether `viewer`, who may see the case, sees one of its attachments: a confidential case's
/// files are the centre's and its complainant's, unless the centre made one shareable.
pub fn may_see(viewer: Viewer, case_confidential: bool, shareable: bool) -> bool {
    match viewer {
        Viewer::Centre | Viewer::Owner => true,
        Viewer::Department => !case_confidential || shareable,
    }
}

/// Signs public links to one attachment: HMAC-SHA-256 over the id and the expiry, so a link
/// names one file for a limited time and cannot be guessed or stretched.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    pub fn new(key: Vec<u8>) -> Self {
        LinkSigner { key }
    }

    fn mac(&self, id: i64, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(format!("attachment:{id}:{expires}").as_bytes());
        mac
    }

    /// The signature (URL-safe base64) of a link to `id` valid until `expires` (Unix seconds).
    pub fn sign(&self, id: i64, expires: i64) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(id, expires).finalize().into_bytes())
    }

    /// Whether `signature` is this signer's for `id` and `expires`, and `now` is before it
    /// expires (compared in constant time).
    pub fn verify(&self, id: i64, expires: i64, signature: &str, now: i64) -> bool {
        use base64::Engine;
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        now < expires && self.mac(id, expires).verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for name in names {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, b"<x/>").unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn types_come_from_content() {
        assert_eq!(
            MediaType::detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(MediaType::Png)
        );
        assert_eq!(MediaType::detect(b"%PDF-1.7\n"), Some(MediaType::Pdf));
        assert_eq!(
            MediaType::detect(b"#!AMR\n\x3c\x48\x77\x00\x00\x00\x00"),
            Some(MediaType::Amr)
        );
        assert_eq!(MediaType::detect(b"\x7fELF\x02\x01\x01\0"), None);
        assert_eq!(MediaType::detect(b"MZ\x90\0"), None);
        assert_eq!(MediaType::detect(b"hello"), None);
        assert_eq!(
            MediaType::detect(&zip_with(&["OFD.xml", "Doc_0/Document.xml"])),
            Some(MediaType::Ofd)
        );
        // A zip of anything else is not taken.
        assert_eq!(MediaType::detect(&zip_with(&["payload.exe"])), None);
    }

    #[test]
    fn file_names_lose_folders_and_control_characters() {
        assert_eq!(
            clean_file_name(Some("C:\\photos\\路灯.jpg"), "f"),
            "路灯.jpg"
        );
        assert_eq!(clean_file_name(Some("../../etc/passwd"), "f"), "passwd");
        assert_eq!(
            clean_file_name(Some("a\u{0}b\u{202e}gpj.exe"), "f"),
            "abgpj.exe"
        );
        assert_eq!(clean_file_name(Some("..."), "f"), "f");
        assert_eq!(clean_file_name(None, "f"), "f");
    }

    #[test]
    fn departments_see_confidential_files_only_when_shared() {
        assert!(may_see(Viewer::Department, false, false));
        assert!(!may_see(Viewer::Department, true, false));
        assert!(may_see(Viewer::Department, true, true));
        assert!(may_see(Viewer::Centre, true, false));
        assert!(may_see(Viewer::Owner, true, false));
    }

    #[test]
    fn links_verify_only_unchanged_and_unexpired() {
        let signer = LinkSigner::new(b"key".to_vec());
        let signature = signer.sign(7, 1000);
        assert!(signer.verify(7, 1000, &signature, 999));
        assert!(!signer.verify(7, 1000, &signature, 1000));
        assert!(!signer.verify(8, 1000, &signature, 1));
        assert!(!signer.verify(7, 2000, &signature, 1));
        assert!(!LinkSigner::new(b"other".to_vec()).verify(7, 1000, &signature, 1));
        assert!(!signer.verify(7, 1000, "not base64!", 1));
    }

    #[test]
    fn orientation_survives_alone() {
        let exif = orientation_exif(6);
        assert_eq!(orientation_of(&exif), Some(6));
    }
}
