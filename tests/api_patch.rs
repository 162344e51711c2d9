//! `PATCH /api/v1/reports/{id}` over HTTP: agency or satisfaction without a status move, and the
//! README's rules for ratings and reopening.

mod support;

use support::{call, demo_city, error_field};

#[tokio::test]
async fn agency_and_satisfaction_change_alone_by_the_readme_rules() {
    let city = demo_city(0).await;
    let r = city.router();
    let (s, posted) = call(
        &r,
        "POST",
        "/api/v1/reports",
        Some(r#"{"category":"garbage","lon":107.5905,"lat":16.4637}"#),
    )
    .await;
    assert_eq!(s, 201, "{posted}");
    let uri = format!("/api/v1/reports/{}", posted["id"]);
    let patch = async |body: &str| call(&r, "PATCH", &uri, Some(body)).await;

    let (s, moved) = patch(r#"{"agency":"hepco"}"#).await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(
        (
            &moved["properties"]["agency"],
            &moved["properties"]["status"]
        ),
        (&"hepco".into(), &"received".into()),
        "a new agency, no status move"
    );

    for (body, field) in [
        ("{}", "body"),
        (r#"{"satisfaction":null}"#, "body"),
        (r#"{"agency":"nobody"}"#, "agency"),
        (r#"{"satisfaction":9}"#, "satisfaction"),
        (r#"{"satisfaction":"4"}"#, "satisfaction"),
        (r#"{"status":3}"#, "status"),
    ] {
        let (s, err) = patch(body).await;
        assert_eq!(
            (s.as_u16(), error_field(&err)),
            (422, field),
            "{body}: {err}"
        );
    }

    let (s, err) = patch(r#"{"satisfaction":4}"#).await;
    assert_eq!(s, 409, "a rating of an unresolved report: {err}");
    let message = err["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("satisfaction:") && message.contains("received"),
        "{message}"
    );

    let (s, done) = patch(r#"{"status":"resolved"}"#).await;
    assert_eq!(s, 200);
    let resolved_at = done["properties"]["resolved_at"].clone();
    assert!(resolved_at.is_string());
    let (s, rated) = patch(r#"{"satisfaction":2}"#).await;
    assert_eq!(s, 200, "{rated}");
    assert_eq!(rated["properties"]["satisfaction"], 2);
    assert_eq!(
        rated["properties"]["resolved_at"], resolved_at,
        "a rating keeps resolved_at"
    );
    assert_eq!(rated["properties"]["agency"], "hepco");

    let (s, again) = patch(r#"{"status":"resolved"}"#).await;
    assert_eq!(s, 409, "resolved → resolved is no move: {again}");

    let (s, reopened) = patch(r#"{"status":"in_progress"}"#).await;
    assert_eq!(s, 200);
    let p = &reopened["properties"];
    assert_eq!(
        (&p["status"], &p["resolved_at"], &p["satisfaction"]),
        (
            &"in_progress".into(),
            &serde_json::Value::Null,
            &serde_json::Value::Null
        ),
        "reopening clears resolved_at and satisfaction"
    );
    let (s, stored) = call(&r, "GET", &uri, None).await;
    assert_eq!(s, 200);
    assert_eq!(stored["properties"], reopened["properties"]);
}
