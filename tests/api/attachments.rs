//! Attachments: every accepted type and refused ones (by content, not name), EXIF removed,
//! limits, who sees which file (departments, confidential cases, analysts, citizens), downloads
//! with ranges and ETags, thumbnails, signed public links, uploads ahead of a case, removal, and
//! the sweep of files no row points to. Run against the local directory and, with
//! `HOTLINE_TEST_STORAGE_URL=s3://…`, an S3-compatible server.

use std::io::{Cursor, Write};

use img_parts::ImageEXIF;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::dispatch::{accepted_case, complaint, desk, dispatched_to, json_of, post};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

// ---- files made here, so that each test knows exactly what it sends ----

pub(crate) fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let picture =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

/// A JPEG whose EXIF holds a GPS position, a camera serial number and orientation 6.
fn jpeg_with_gps() -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value as ExifValue};
    let fields = [
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: ExifValue::Short(vec![6]),
        },
        Field {
            tag: Tag::BodySerialNumber,
            ifd_num: In::PRIMARY,
            value: ExifValue::Ascii(vec![b"SN-0042-SECRET".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: ExifValue::Ascii(vec![b"N".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: ExifValue::Rational(vec![
                Rational { num: 39, denom: 1 },
                Rational { num: 54, denom: 1 },
                Rational { num: 27, denom: 1 },
            ]),
        },
    ];
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let mut jpeg =
        img_parts::jpeg::Jpeg::from_bytes(encoded(image::ImageFormat::Jpeg).into()).unwrap();
    jpeg.set_exif(Some(tiff.into_inner().into()));
    let bytes = jpeg.encoder().bytes().to_vec();
    assert!(String::from_utf8_lossy(&bytes).contains("SN-0042-SECRET"));
    bytes
}

fn zip_of(entries: &[&str]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for name in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"<?xml version=\"1.0\"?><x/>").unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

fn iso_box(brand: &[u8; 4], compatible: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"ftyp");
    body.extend_from_slice(brand);
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(compatible);
    let mut file = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    file.extend(body);
    file.extend_from_slice(&[0u8; 64]);
    file
}

/// Every accepted type: (name sent, content, the type the server must decide).
fn accepted_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec();
    mp3.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
    mp3.extend_from_slice(&[0u8; 64]);
    vec![
        ("photo.jpg", encoded(image::ImageFormat::Jpeg), "image/jpeg"),
        ("scan.png", encoded(image::ImageFormat::Png), "image/png"),
        ("pic.webp", encoded(image::ImageFormat::WebP), "image/webp"),
        ("iphone.heic", iso_box(b"heic", b"mif1heic"), "image/heic"),
        (
            "letter.pdf",
            b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec(),
            "application/pdf",
        ),
        (
            "回复函.ofd",
            zip_of(&["OFD.xml", "Doc_0/Document.xml"]),
            "application/ofd",
        ),
        ("call.mp3", mp3, "audio/mpeg"),
        (
            "call.amr",
            b"#!AMR\n\x3c\x48\x77\x00\x00\x00\x00\x00".to_vec(),
            "audio/amr",
        ),
        ("voice.m4a", iso_box(b"M4A ", b"M4A mp42isom"), "audio/mp4"),
        (
            "site.mp4",
            iso_box(b"isom", b"isomiso2avc1mp41"),
            "video/mp4",
        ),
        (
            "reply.docx",
            zip_of(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "list.xlsx",
            zip_of(&["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"]),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ]
}

pub(crate) fn part(name: &str, content: Vec<u8>) -> Part {
    // The client's header claims something else: the content decides.
    Part::bytes(content)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")
        .unwrap()
}

async fn upload(app: &TestApp, token: &str, path: &str, form: Form) -> reqwest::Response {
    app.request("POST", path, Some(token))
        .multipart(form)
        .send()
        .await
        .expect("request sent")
}

async fn upload_one(app: &TestApp, token: &str, case: i64, name: &str, content: Vec<u8>) -> Value {
    let form = Form::new().part("file", part(name, content));
    let added = json_of(
        upload(
            app,
            token,
            &format!("/api/v1/cases/{case}/attachments"),
            form,
        )
        .await,
        201,
        &format!("upload {name}"),
    )
    .await;
    added[0].clone()
}

async fn download(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    app.get_as(token, &format!("/api/v1/attachments/{id}"))
        .await
}

/// `GET path` with one extra header (`Range`, `If-None-Match`).
async fn get_with(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    (name, value): (&str, &str),
) -> reqwest::Response {
    app.request("GET", path, token)
        .header(name, value)
        .send()
        .await
        .expect("request sent")
}

/// `DELETE /attachments/{id}` with `body`.
async fn remove(app: &TestApp, token: &str, id: i64, body: Value) -> reqwest::Response {
    app.request("DELETE", &format!("/api/v1/attachments/{id}"), Some(token))
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

/// The stored files of an app (by listing its store, local or S3).
async fn stored_files(app: &TestApp) -> Vec<String> {
    let url = hotline::storage::StorageUrl::parse(&app.storage_url).unwrap();
    let storage = hotline::storage::Storage::open(&url).unwrap();
    let mut files = storage
        .objects_before(chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    files.sort();
    files
}

#[tokio::test]
async fn files_are_typed_by_their_content_and_images_lose_their_exif() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let case = accepted_case(&app, &d, &complaint(true, false)).await;

    for (name, content, expected) in accepted_files() {
        let added = upload_one(&app, &d.operator, case, name, content.clone()).await;
        assert_eq!(added["media_type"], expected, "{name}");
        assert_eq!(added["file_name"], name);
        assert_eq!(added["case_id"], case);
    }

    // A PNG named .pdf is a PNG; an executable named .jpg, or a zip of anything, is refused.
    let png = upload_one(
        &app,
        &d.operator,
        case,
        "report.pdf",
        encoded(image::ImageFormat::Png),
    )
    .await;
    assert_eq!(png["media_type"], "image/png");
    for (name, content) in [
        (
            "photo.jpg",
            b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        ),
        (
            "photo.jpg",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00".to_vec(),
        ),
        ("notes.docx", zip_of(&["payload.bin"])),
        ("text.txt", "纯文本不是附件".as_bytes().to_vec()),
        // Claims to be a JPEG by its first bytes, and is not one.
        (
            "broken.jpg",
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00garbage".to_vec(),
        ),
    ] {
        let form = Form::new().part("file", part(name, content));
        let refused = upload(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{case}/attachments"),
            form,
        )
        .await;
        assert_problem(refused, 415, "unsupported_file_type").await;
    }

    // The photo's GPS position and serial number are gone; its orientation stays.
    let original = jpeg_with_gps();
    let photo = upload_one(&app, &d.operator, case, "现场.jpg", original.clone()).await;
    let response = download(&app, &d.operator, photo["id"].as_i64().unwrap()).await;
    assert_eq!(response.status(), 200);
    let served = response.bytes().await.unwrap();
    assert_eq!(served.len() as i64, photo["size_bytes"].as_i64().unwrap());
    assert!(!String::from_utf8_lossy(&served).contains("SN-0042-SECRET"));
    let jpeg = img_parts::jpeg::Jpeg::from_bytes(served.clone()).unwrap();
    let exif = exif::Reader::new()
        .read_raw(jpeg.exif().expect("the orientation is kept").to_vec())
        .unwrap();
    assert!(
        exif.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
            .is_none()
    );
    assert!(
        exif.get_field(exif::Tag::BodySerialNumber, exif::In::PRIMARY)
            .is_none()
    );
    assert_eq!(
        exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0)),
        Some(6)
    );
    assert_eq!(exif.fields().count(), 1, "nothing but the orientation");
    // Still a picture.
    image::load_from_memory(&served).expect("the stripped photo decodes");

    // The same photo twice is stored once.
    let again = upload_one(&app, &d.operator, case, "again.jpg", original).await;
    assert_eq!(again["sha256"], photo["sha256"]);
    assert_ne!(again["id"], photo["id"]);
    let files = stored_files(&app).await;
    assert_eq!(
        files
            .iter()
            .filter(|f| **f == photo["sha256"].as_str().unwrap())
            .count(),
        1
    );
    // 12 types + the PNG named .pdf + the photo (its copy adds no file); the PNG named .pdf is
    // the same content as scan.png.
    assert_eq!(files.len(), 13, "{files:?}");

    // Every upload is on the timeline, without the file's name.
    let timeline = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{case}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    let added: Vec<&Value> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "attachment_added")
        .collect();
    assert_eq!(added.len(), 15);
    assert!(!timeline.to_string().contains("现场.jpg"));
}

#[tokio::test]
async fn limits_and_malformed_uploads_are_refused_and_leave_no_row() {
    let app = spawn_app_with(&[
        ("HOTLINE_ATTACHMENT_MAX_BYTES", "4096"),
        ("HOTLINE_CASE_ATTACHMENTS_MAX_COUNT", "3"),
        ("HOTLINE_CASE_ATTACHMENTS_MAX_BYTES", "8000"),
    ])
    .await;
    let d = desk(&app).await;
    let case = accepted_case(&app, &d, &complaint(true, false)).await;
    let path = format!("/api/v1/cases/{case}/attachments");
    let pdf = |size: usize| {
        let mut content = b"%PDF-1.4\n".to_vec();
        content.resize(size, b' ');
        content
    };

    // A malformed Idempotency-Key is refused on uploads as on every POST.
    let bad_key = app
        .request("POST", &path, Some(&d.operator))
        .header("idempotency-key", "k".repeat(101))
        .multipart(Form::new().part("file", part("a.pdf", pdf(100))))
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, 400, "invalid_idempotency_key").await;

    let too_big = upload(
        &app,
        &d.operator,
        &path,
        Form::new().part("file", part("a.pdf", pdf(5000))),
    )
    .await;
    assert_problem(too_big, 413, "file_too_large").await;
    // Three files of 3000 bytes: more bytes than the case holds; none is recorded.
    let form = (0..3).fold(Form::new(), |form, i| {
        form.part("file", part(&format!("{i}.pdf"), pdf(3000 + i)))
    });
    assert_problem(
        upload(&app, &d.operator, &path, form).await,
        413,
        "case_attachments_full",
    )
    .await;
    // One good file, then one refused in the same request: neither is recorded.
    let form = Form::new().part("file", part("ok.pdf", pdf(100))).part(
        "file",
        part(
            "bad.exe",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00".to_vec(),
        ),
    );
    assert_problem(
        upload(&app, &d.operator, &path, form).await,
        415,
        "unsupported_file_type",
    )
    .await;
    let listed = json_of(app.get_as(&d.operator, &path).await, 200, "list").await;
    assert_eq!(listed.as_array().unwrap().len(), 0);

    // No file part, an unknown part, a caption too long, a JSON body.
    let no_file = upload(
        &app,
        &d.operator,
        &path,
        Form::new().text("caption", "照片"),
    )
    .await;
    let problem = assert_problem(no_file, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "file");
    let unknown = upload(&app, &d.operator, &path, Form::new().text("evil", "x")).await;
    assert_problem(unknown, 422, "validation_failed").await;
    let long = Form::new()
        .text("caption", "长".repeat(501))
        .part("file", part("a.pdf", pdf(100)));
    assert_problem(
        upload(&app, &d.operator, &path, long).await,
        422,
        "validation_failed",
    )
    .await;
    let json_body = app
        .post_as(Some(&d.operator), &path, &json!({"file": "x"}))
        .await;
    assert_problem(json_body, 415, "unsupported_media_type").await;
    // A body cut off in the middle of a part.
    let truncated = app
        .request("POST", &path, Some(&d.operator))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4 and then nothing")
        .send()
        .await
        .unwrap();
    assert_eq!(truncated.status(), 400);

    // Within the limits, with a caption; then the count limit.
    for i in 0..3 {
        let form = Form::new()
            .text("caption", "  现场照片  ")
            .part("file", part(&format!("{i}.pdf"), pdf(1000 + i)));
        let added = json_of(upload(&app, &d.operator, &path, form).await, 201, "upload").await;
        assert_eq!(added[0]["caption"], "现场照片");
    }
    let fourth = upload(
        &app,
        &d.operator,
        &path,
        Form::new().part("file", part("4.pdf", pdf(10))),
    )
    .await;
    assert_problem(fourth, 413, "case_attachments_full").await;
}

#[tokio::test]
async fn who_sees_and_adds_which_files() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let analyst = app.token("analyst").await;
    let admin = app.token("admin").await;
    let pdf = b"%PDF-1.4\n%%EOF\n".to_vec();

    // A case dispatched to CGJ: its staff attach to their assignment; DC sees nothing of it.
    let (case, assignment, _, _) = dispatched_to(&app, &d, d.cgj).await;
    let from_cgj = upload_one(&app, &d.cgj_staff, case, "回复函.pdf", pdf.clone()).await;
    assert_eq!(from_cgj["assignment_id"], assignment);
    assert_eq!(from_cgj["uploaded_by_role"], "department_staff");
    let id = from_cgj["id"].as_i64().unwrap();
    assert_problem(download(&app, &d.dc_staff, id).await, 404, "not_found").await;
    let dc_list = app
        .get_as(&d.dc_staff, &format!("/api/v1/cases/{case}/attachments"))
        .await;
    assert_problem(dc_list, 404, "not_found").await;
    let dc_upload = upload(
        &app,
        &d.dc_staff,
        &format!("/api/v1/cases/{case}/attachments"),
        Form::new().part("file", part("x.pdf", pdf.clone())),
    )
    .await;
    assert_problem(dc_upload, 404, "not_found").await;
    // Analysts never reach files.
    assert_problem(download(&app, &analyst, id).await, 403, "forbidden_role").await;
    assert_problem(
        app.get_as(&analyst, &format!("/api/v1/cases/{case}/attachments"))
            .await,
        403,
        "forbidden_role",
    )
    .await;
    // The centre reads it, and the read of a case with a named complainant is on record.
    assert_eq!(download(&app, &d.operator, id).await.status(), 200);
    let reads = json_of(
        app.get_as(
            &admin,
            &format!("/api/v1/personal-data-reads?case_id={case}&limit=200"),
        )
        .await,
        200,
        "reads",
    )
    .await;
    assert!(!reads["items"].as_array().unwrap().is_empty(), "{reads}");

    // A confidential case: the department does not see the centre's file until it is shared.
    let secret = accepted_case(&app, &d, &complaint(true, true)).await;
    json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{secret}/dispatch"),
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let photo = upload_one(
        &app,
        &d.operator,
        secret,
        "身份证.jpg",
        encoded(image::ImageFormat::Jpeg),
    )
    .await;
    let photo_id = photo["id"].as_i64().unwrap();
    let seen = json_of(
        app.get_as(&d.cgj_staff, &format!("/api/v1/cases/{secret}/attachments"))
            .await,
        200,
        "list",
    )
    .await;
    assert_eq!(seen.as_array().unwrap().len(), 0);
    assert_problem(
        download(&app, &d.cgj_staff, photo_id).await,
        404,
        "not_found",
    )
    .await;
    let staff_share = app
        .patch_as(
            &d.cgj_staff,
            &format!("/api/v1/attachments/{photo_id}"),
            &json!({"shareable": true}),
        )
        .await;
    assert_problem(staff_share, 403, "forbidden_role").await;
    let shared = json_of(
        app.patch_as(
            &d.operator,
            &format!("/api/v1/attachments/{photo_id}"),
            &json!({"shareable": true}),
        )
        .await,
        200,
        "share",
    )
    .await;
    assert_eq!(shared["shareable"], true);
    assert_eq!(download(&app, &d.cgj_staff, photo_id).await.status(), 200);

    // Citizens: their own case while it is open; not another's.
    let citizen = app.token("13800138000").await;
    let own = json_of(
        app.post_as(Some(&citizen), "/api/v1/cases", &json!({"kind": "complaint", "title": "路灯不亮", "description": "小区门口路灯坏了一周。"})).await,
        201,
        "register",
    )
    .await;
    let own_id = own["id"].as_i64().unwrap();
    let mine = upload_one(
        &app,
        &citizen,
        own_id,
        "lamp.jpg",
        encoded(image::ImageFormat::Jpeg),
    )
    .await;
    assert_eq!(mine["uploaded_by_role"], "citizen");
    let others = upload(
        &app,
        &citizen,
        &format!("/api/v1/cases/{case}/attachments"),
        Form::new().part("file", part("x.pdf", pdf.clone())),
    )
    .await;
    assert_problem(others, 404, "not_found").await;
    assert_problem(download(&app, &citizen, id).await, 404, "not_found").await;
    json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{own_id}/reject"),
            json!({"reason": "不属于受理范围", "redirect_to": "请向法院咨询"}),
        )
        .await,
        200,
        "reject",
    )
    .await;
    let late = upload(
        &app,
        &citizen,
        &format!("/api/v1/cases/{own_id}/attachments"),
        Form::new().part("file", part("x.pdf", pdf.clone())),
    )
    .await;
    assert_problem(late, 409, "case_not_open_for_attachments").await;

    // Removal: administrators only, with a reason; the record stays, the file is gone.
    let by_operator = remove(&app, &d.operator, id, json!({"reason": "错误"})).await;
    assert_problem(by_operator, 403, "forbidden_role").await;
    let no_reason = remove(&app, &admin, id, json!({})).await;
    assert_problem(no_reason, 422, "validation_failed").await;
    let removed = json_of(
        remove(&app, &admin, id, json!({"reason": "上传错了文件"})).await,
        200,
        "remove",
    )
    .await;
    assert_eq!(removed["removal_reason"], "上传错了文件");
    assert!(removed["removed_at"].is_string());
    assert_problem(
        download(&app, &d.operator, id).await,
        410,
        "attachment_removed",
    )
    .await;
    let again = remove(&app, &admin, id, json!({"reason": "x"})).await;
    assert_problem(again, 409, "attachment_removed").await;
    assert!(
        !stored_files(&app)
            .await
            .contains(&from_cgj["sha256"].as_str().unwrap().to_owned())
    );
    let listed = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{case}/attachments"))
            .await,
        200,
        "list",
    )
    .await;
    assert_eq!(listed[0]["removed_at"], removed["removed_at"]);
    let timeline = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{case}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "attachment_removed")
    );
    assert_problem(download(&app, &d.operator, 999_999).await, 404, "not_found").await;
}

#[tokio::test]
async fn downloads_stream_ranges_etags_thumbnails_and_signed_links() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "0")]).await;
    let d = desk(&app).await;
    let case = accepted_case(&app, &d, &complaint(true, false)).await;
    let mut audio = b"#!AMR\n".to_vec();
    audio.extend((0..10_000u32).map(|i| (i % 251) as u8));
    let clip = upload_one(&app, &d.operator, case, "录音 2026.amr", audio.clone()).await;
    let id = clip["id"].as_i64().unwrap();

    let whole = download(&app, &d.operator, id).await;
    assert_eq!(whole.status(), 200);
    let headers = whole.headers().clone();
    assert_eq!(headers["content-type"], "audio/amr");
    assert_eq!(headers["accept-ranges"], "bytes");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", clip["sha256"].as_str().unwrap()));
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E5%BD%95%E9%9F%B3%202026.amr"),
        "{disposition}"
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), audio.as_slice());

    let part = get_with(
        &app,
        Some(&d.operator),
        &format!("/api/v1/attachments/{id}"),
        ("range", "bytes=100-199"),
    )
    .await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/10006");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &audio[100..200]);
    let tail = get_with(
        &app,
        Some(&d.operator),
        &format!("/api/v1/attachments/{id}"),
        ("range", "bytes=-6"),
    )
    .await;
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &audio[audio.len() - 6..]
    );
    let beyond = get_with(
        &app,
        Some(&d.operator),
        &format!("/api/v1/attachments/{id}"),
        ("range", "bytes=20000-"),
    )
    .await;
    assert_problem(beyond, 416, "range_not_satisfiable").await;
    let cached = get_with(
        &app,
        Some(&d.operator),
        &format!("/api/v1/attachments/{id}"),
        ("if-none-match", &etag),
    )
    .await;
    assert_eq!(cached.status(), 304);

    // Thumbnails of images, made once and kept; none for a recording.
    let photo = upload_one(&app, &d.operator, case, "big.png", {
        let picture = image::RgbImage::from_fn(1200, 900, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
        });
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(picture)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    })
    .await;
    assert_eq!(photo["has_thumbnail"], true);
    for _ in 0..2 {
        let thumb = app
            .get_as(
                &d.operator,
                &format!("/api/v1/attachments/{}/thumbnail", photo["id"]),
            )
            .await;
        assert_eq!(thumb.status(), 200);
        assert_eq!(thumb.headers()["content-type"], "image/jpeg");
        let small = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
        assert_eq!((small.width(), small.height()), (320, 240));
    }
    assert_eq!(clip["has_thumbnail"], false);
    let none = app
        .get_as(&d.operator, &format!("/api/v1/attachments/{id}/thumbnail"))
        .await;
    assert_problem(none, 404, "not_found").await;

    // A signed link works without sign-in, for this file only, until it expires.
    let link = json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/attachments/{id}/links"),
            json!({"expires_in_seconds": 600}),
        )
        .await,
        201,
        "link",
    )
    .await;
    let url = link["url"].as_str().unwrap();
    let path = &url[url.find("/api/").unwrap()..];
    let public = app.get(path).await;
    assert_eq!(public.status(), 200);
    assert_eq!(public.bytes().await.unwrap().as_ref(), audio.as_slice());
    let ranged = get_with(&app, None, path, ("range", "bytes=0-5")).await;
    assert_eq!(ranged.status(), 206);
    let other_file = path.replace(
        &format!("/attachments/{id}?"),
        &format!("/attachments/{}?", photo["id"]),
    );
    assert_problem(app.get(&other_file).await, 403, "invalid_link").await;
    let expires = link["expires_at"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires)
        .unwrap()
        .timestamp();
    let stretched = path.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 86400),
    );
    assert_problem(app.get(&stretched).await, 403, "invalid_link").await;
    assert_problem(
        app.get(&format!(
            "/api/v1/public/attachments/{id}?expires=1&signature=abc"
        ))
        .await,
        403,
        "invalid_link",
    )
    .await;
    let bad_query = app
        .get(&format!(
            "/api/v1/public/attachments/{id}?expires=soon&signature=x"
        ))
        .await;
    assert_problem(bad_query, 400, "invalid_query").await;
    let short = post(
        &app,
        &d.operator,
        &format!("/api/v1/attachments/{id}/links"),
        json!({"expires_in_seconds": 5}),
    )
    .await;
    assert_problem(short, 422, "validation_failed").await;
    let citizen = app.token("13800138000").await;
    let by_citizen = post(
        &app,
        &citizen,
        &format!("/api/v1/attachments/{id}/links"),
        json!({}),
    )
    .await;
    assert_problem(by_citizen, 403, "forbidden_role").await;
}

#[tokio::test]
async fn uploads_made_before_registration_join_the_new_case() {
    let app = spawn_app().await;
    app.load_demo().await;
    let citizen = app.token("13800138000").await;
    let form = Form::new()
        .text("caption", "垃圾堆")
        .part("file", part("1.jpg", encoded(image::ImageFormat::Jpeg)))
        .part("file", part("2.png", encoded(image::ImageFormat::Png)));
    let uploaded = json_of(
        upload(&app, &citizen, "/api/v1/attachments", form).await,
        201,
        "upload",
    )
    .await;
    let ids: Vec<i64> = uploaded
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(uploaded[0]["case_id"].is_null());
    // Only the uploader reads an upload without a case.
    let operator = app.token("operator").await;
    assert_problem(download(&app, &operator, ids[0]).await, 404, "not_found").await;
    assert_eq!(download(&app, &citizen, ids[0]).await.status(), 200);

    // Another citizen cannot take them.
    json_of(
        app.post_as(
            None,
            "/api/v1/citizens/register",
            &json!({"phone": "13900001111", "password": "another-citizen-1"}),
        )
        .await,
        201,
        "register citizen",
    )
    .await;
    let other = app.sign_in("13900001111", "another-citizen-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let case = json!({"kind": "complaint", "title": "垃圾堆放", "description": "楼下垃圾三天没人清运。", "attachment_ids": ids});
    let stolen = app.post_as(Some(&other), "/api/v1/cases", &case).await;
    let problem = assert_problem(stolen, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "attachment_ids");

    let registered = json_of(
        app.post_as(Some(&citizen), "/api/v1/cases", &case).await,
        201,
        "register",
    )
    .await;
    let case_id = registered["id"].as_i64().unwrap();
    let listed = json_of(
        app.get_as(&operator, &format!("/api/v1/cases/{case_id}/attachments"))
            .await,
        200,
        "list",
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["caption"], "垃圾堆");
    assert_eq!(download(&app, &operator, ids[0]).await.status(), 200);
    // Given once: a second case cannot take them again.
    let twice = app.post_as(Some(&citizen), "/api/v1/cases", &case).await;
    assert_problem(twice, 422, "validation_failed").await;
    // Analysts and departments do not upload ahead of a case.
    let analyst = app.token("analyst").await;
    let refused = upload(
        &app,
        &analyst,
        "/api/v1/attachments",
        Form::new().part("file", part("a.pdf", b"%PDF-1.4\n".to_vec())),
    )
    .await;
    assert_problem(refused, 403, "forbidden_role").await;
}

#[tokio::test]
async fn the_sweep_removes_files_no_row_points_to_and_expired_uploads() {
    let app = spawn_app_with(&[("HOTLINE_ORPHAN_FILE_AGE_SECS", "0")]).await;
    let d = desk(&app).await;
    let case = accepted_case(&app, &d, &complaint(true, false)).await;
    let kept = upload_one(
        &app,
        &d.operator,
        case,
        "kept.pdf",
        b"%PDF-1.4\nkept\n".to_vec(),
    )
    .await;
    // A request that failed after its first file was stored: the file has no row.
    let form = Form::new()
        .part("file", part("orphan.pdf", b"%PDF-1.4\norphan\n".to_vec()))
        .part(
            "file",
            part(
                "bad.exe",
                b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00".to_vec(),
            ),
        );
    assert_problem(
        upload(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{case}/attachments"),
            form,
        )
        .await,
        415,
        "unsupported_file_type",
    )
    .await;
    // An upload never given to a case.
    let pending = json_of(
        upload(
            &app,
            &d.operator,
            "/api/v1/attachments",
            Form::new().part("file", part("p.pdf", b"%PDF-1.4\npending\n".to_vec())),
        )
        .await,
        201,
        "pending",
    )
    .await;
    assert_eq!(stored_files(&app).await.len(), 3);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let output = tokio::task::spawn_blocking({
        let (db, storage) = (app.db.url(), app.storage_url.clone());
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
                .arg("sweep-files")
                .env("DATABASE_URL", db)
                .env("HOTLINE_STORAGE_URL", storage)
                .env("HOTLINE_ORPHAN_FILE_AGE_SECS", "0")
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let swept: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        swept,
        json!({"pending_uploads_removed": 1, "files_removed": 2})
    );
    assert_eq!(
        stored_files(&app).await,
        vec![kept["sha256"].as_str().unwrap().to_owned()]
    );
    let gone = download(&app, &d.operator, pending[0]["id"].as_i64().unwrap()).await;
    assert_problem(gone, 404, "not_found").await;
    assert_eq!(
        download(&app, &d.operator, kept["id"].as_i64().unwrap())
            .await
            .status(),
        200
    );
}
