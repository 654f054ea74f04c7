//! The fakes' own answers must satisfy the vendors' documents, and bad requests must not.

use axum::http::Method;
use serde_json::{json, Value};

use crate::contract::Contract;
use crate::data::Data;

fn specs() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs"))
}

fn get(data: &mut Data, service: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r = data.route(
        false,
        service,
        &Method::GET,
        path,
        &q,
        None,
        "http://127.0.0.1:1",
    );
    (r.status, r.body.unwrap_or(Value::Null))
}

#[test]
fn jira_answers_match_the_platform_spec() {
    let c = Contract::load(&specs().join("jira-platform-v3.json"), "").unwrap();
    let mut d = Data::seed("jira", "x");
    for (path, query) in [
        (
            "/rest/api/3/search/jql",
            vec![("jql", "project = DEMO"), ("maxResults", "5")],
        ),
        ("/rest/api/3/issue/DEMO-1", vec![]),
        ("/rest/api/3/issue/DEMO-1/transitions", vec![]),
        ("/rest/api/3/project/search", vec![]),
    ] {
        let (status, body) = get(&mut d, "jira", path, &query);
        assert_eq!(status, 200, "{path}");
        c.check_response("GET", path, status, Some(&body)).unwrap();
    }
    let (_, page) = get(
        &mut d,
        "jira",
        "/rest/api/3/search/jql",
        &[("jql", "project = DEMO"), ("maxResults", "5")],
    );
    assert_eq!(page["issues"].as_array().unwrap().len(), 5);
    assert_eq!(page["isLast"], false);
}

#[test]
fn jira_rejects_bodies_the_spec_rejects() {
    let c = Contract::load(&specs().join("jira-platform-v3.json"), "").unwrap();
    assert!(c
        .check_request(
            "POST",
            "/rest/api/3/issue",
            &[],
            Some(&json!({"fields": {"summary": "x"}}))
        )
        .is_ok());
    let err = c
        .check_request(
            "POST",
            "/rest/api/3/issue",
            &[],
            Some(&json!({"fields": "not an object"})),
        )
        .unwrap_err();
    assert!(err.contains("request POST /rest/api/3/issue"), "{err}");
    assert!(c
        .check_request(
            "POST",
            "/rest/api/3/issue/DEMO-1/transitions",
            &[],
            Some(&json!({"transition": {"id": 21}}))
        )
        .is_err());
    assert!(c
        .check_request("POST", "/rest/api/3/nothing/here", &[], Some(&json!({})))
        .is_err());
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_request_and_reply_is_held_to_the_document() {
    let c = Contract::load(&specs().join("jira-platform-v3.json"), "").unwrap();
    let search = "/rest/api/3/search/jql";
    // Query parameters: declared names, values of the declared type, required ones present.
    c.check_request(
        "GET",
        search,
        &q(&[("jql", "project = DEMO"), ("maxResults", "5")]),
        None,
    )
    .unwrap();
    let err = c
        .check_request("GET", search, &q(&[("jql", "x"), ("startAt", "0")]), None)
        .unwrap_err();
    assert!(
        err.contains("undeclared query parameter 'startAt'"),
        "{err}"
    );
    let err = c
        .check_request("GET", search, &q(&[("maxResults", "many")]), None)
        .unwrap_err();
    assert!(err.contains("query 'maxResults'"), "{err}");
    // Paths and methods the document does not have.
    let err = c
        .check_request("GET", "/rest/api/2/issue/DEMO-1", &[], None)
        .unwrap_err();
    assert!(err.contains("not an operation"), "{err}");
    assert!(c
        .check_request("PATCH", "/rest/api/3/issue/DEMO-1", &[], None)
        .is_err());
    // A body for an operation that takes none.
    assert!(c
        .check_request("GET", "/rest/api/3/issue/DEMO-1", &[], Some(&json!({})))
        .is_err());
    // Replies: an undeclared status, a JSON body where no schema is declared, unknown paths.
    let err = c
        .check_response("GET", "/rest/api/3/issue/DEMO-1", 418, Some(&json!({})))
        .unwrap_err();
    assert!(err.contains("status not declared"), "{err}");
    c.check_response("POST", "/rest/api/3/issue/DEMO-1/transitions", 204, None)
        .unwrap();
    let bare = Contract::from_doc(
        json!({"paths": {"/x": {"delete": {"responses": {"204": {"description": "gone"}}}}}}),
        "",
    );
    bare.check_response("DELETE", "/x", 204, None).unwrap();
    let err = bare
        .check_response("DELETE", "/x", 204, Some(&json!({"x": 1})))
        .unwrap_err();
    assert!(err.contains("declares no JSON schema"), "{err}");
    assert!(c
        .check_response("GET", "/rest/api/3/nothing", 200, None)
        .is_err());
}

#[test]
fn confluence_answers_match_v1_and_v2() {
    let v2 = Contract::load(&specs().join("confluence-v2.json"), "/wiki/api/v2").unwrap();
    let v1 = Contract::load(&specs().join("confluence-v1.json"), "").unwrap();
    let mut d = Data::seed("confluence", "x");
    for (path, query) in [
        ("/wiki/api/v2/pages/98305", vec![("body-format", "storage")]),
        ("/wiki/api/v2/spaces", vec![("limit", "1")]),
        ("/wiki/api/v2/pages/98305/children", vec![("limit", "5")]),
    ] {
        let (status, body) = get(&mut d, "confluence", path, &query);
        assert_eq!(status, 200, "{path}");
        v2.check_response("GET", path, status, Some(&body)).unwrap();
    }
    let (status, body) = get(
        &mut d,
        "confluence",
        "/wiki/rest/api/search",
        &[("cql", "type = page AND space = ENG"), ("limit", "5")],
    );
    assert_eq!(status, 200);
    v1.check_response("GET", "/wiki/rest/api/search", status, Some(&body))
        .unwrap();
    assert!(body["_links"]["next"].as_str().unwrap().contains("cursor="));
    let bad = json!({"spaceId": 65537, "status": "current", "title": "t", "body": {"representation": "storage", "value": "x"}});
    assert!(
        v2.check_request("POST", "/wiki/api/v2/pages", &[], Some(&bad))
            .is_err(),
        "spaceId must be a string"
    );
}

#[test]
fn gitlab_pages_carry_offset_headers() {
    let mut d = Data::seed("gitlab", "one");
    let q = vec![
        ("page".to_owned(), "3".to_owned()),
        ("per_page".to_owned(), "20".to_owned()),
    ];
    let r = d.route(
        false,
        "gitlab",
        &Method::GET,
        "/api/v4/projects",
        &q,
        None,
        "http://h",
    );
    let h = |k: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(r.body.as_ref().unwrap().as_array().unwrap().len(), 5);
    assert_eq!(
        (
            h("x-page"),
            h("x-next-page"),
            h("x-total"),
            h("x-total-pages")
        ),
        ("3".into(), String::new(), "45".into(), "3".into())
    );
    let r = d.route(
        false,
        "gitlab",
        &Method::GET,
        "/sub/api/v4/projects/demo-group%2Fdemo-project",
        &[],
        None,
        "http://h",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.unwrap()["description"]
        .as_str()
        .unwrap()
        .contains("served by one"));
    let r = d.route(
        false,
        "gitlab",
        &Method::GET,
        "/api/v4/projects/nope%2Fnope",
        &[],
        None,
        "http://h",
    );
    assert_eq!(
        (r.status, r.body.unwrap()),
        (404, json!({"message": "404 Project Not Found"}))
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_violation() {
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::HeaderMap;

    let fake = Arc::new(crate::Fake {
        service: "gitlab".into(),
        server: false,
        token: "t".into(),
        email: None,
        instance: "gitlab".into(),
        contracts: None,
        data: Mutex::new(Data::seed("gitlab", "gitlab")),
        faults: Mutex::new(crate::Faults::default()),
        stats: Mutex::new(crate::Stats::default()),
        connections: Arc::new(AtomicU64::new(0)),
    });
    let reply = crate::handle(
        State(fake.clone()),
        Method::POST,
        "/api/v4/projects/1/issues".parse().unwrap(),
        HeaderMap::new(),
        axum::body::Bytes::from_static(b"{\"title\":"),
    )
    .await;
    assert_eq!(reply.status(), 400);
    let violations = fake.stats.lock().unwrap().violations.clone();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("not JSON"), "{violations:?}");
}

/// The GitLab contract as `main` loads it: GitLab's generated document where it has the operation.
fn gitlab_contract() -> Contract {
    super::gitlab_contract(&specs()).unwrap()
}

#[test]
fn gitlab_answers_match_gitlabs_own_document() {
    let c = gitlab_contract();
    let doc: Value = serde_json::from_slice(
        &std::fs::read(specs().join("gitlab-v4.openapi-extract.json")).unwrap(),
    )
    .unwrap();
    let mut d = Data::seed("gitlab", "x");
    let (_, mrs) = get(&mut d, "gitlab", "/api/v4/projects/1/merge_requests", &[]);
    let mut paths: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/api/v4/projects/1/repository/tree".into(),
            vec![("recursive", "true")],
        ),
        (
            "/api/v4/projects/1/repository/compare".into(),
            vec![("from", "main"), ("to", "develop")],
        ),
        (
            "/api/v4/projects/1/wikis".into(),
            vec![("with_content", "true")],
        ),
        ("/api/v4/projects/1/wikis/home".into(), vec![]),
        (
            "/api/v4/projects/1/milestones".into(),
            vec![("state", "active")],
        ),
        (
            "/api/v4/projects/1/releases".into(),
            vec![("order_by", "released_at")],
        ),
        (
            "/api/v4/projects/1/repository/commits".into(),
            vec![("ref_name", "main")],
        ),
        (
            "/api/v4/projects/1/repository/commits/main".into(),
            vec![("stats", "true")],
        ),
        (
            "/api/v4/projects/1/repository/commits/main/diff".into(),
            vec![],
        ),
        ("/api/v4/projects".into(), vec![("membership", "true")]),
        ("/api/v4/projects/1".into(), vec![]),
        ("/api/v4/user".into(), vec![]),
        (
            "/api/v4/groups/7/projects".into(),
            vec![("include_subgroups", "true")],
        ),
        ("/api/v4/projects/1/repository/branches".into(), vec![]),
        (
            "/api/v4/projects/1/merge_requests".into(),
            vec![("state", "opened")],
        ),
        ("/api/v4/projects/1/merge_requests/1".into(), vec![]),
        ("/api/v4/projects/1/merge_requests/1/diffs".into(), vec![]),
        (
            "/api/v4/projects/1/issues".into(),
            vec![("state", "opened")],
        ),
        (
            "/api/v4/projects/1/repository/files/README.md".into(),
            vec![("ref", "main")],
        ),
        ("/api/v4/projects/1/labels".into(), vec![]),
        ("/api/v4/projects/1/pipelines".into(), vec![("ref", "main")]),
        ("/api/v4/projects/1/pipelines/102".into(), vec![]),
        ("/api/v4/projects/1/pipelines/102/jobs".into(), vec![]),
    ];
    for mr in mrs.as_array().unwrap() {
        paths.push((
            format!(
                "/api/v4/projects/1/merge_requests/{}/discussions",
                mr["iid"]
            ),
            vec![("per_page", "20")],
        ));
    }
    let mut discussions = 0;
    for (path, query) in &paths {
        let (status, body) = get(&mut d, "gitlab", path, query);
        assert_eq!(status, 200, "{path}");
        let t = c.template(path).unwrap();
        assert_eq!(
            doc["paths"][t]["get"]["x-source"], "gitlab-openapi",
            "{t} should come from GitLab's document"
        );
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c.check_request("GET", path, &q, None).unwrap();
        c.check_response("GET", path, status, Some(&body)).unwrap();
        if path.ends_with("/discussions") {
            discussions += body.as_array().unwrap().len();
        }
    }
    assert!(discussions > 0, "no seeded discussion was checked");
}

/// The documented deviations from GitLab's document (tests/specs/README.md) are accepted exactly
/// where listed, and the bodies they let through are still checked.
#[test]
fn gitlab_deviations_are_accepted_only_where_listed() {
    let c = gitlab_contract();
    let cancel = "/api/v4/projects/1/pipelines/102/cancel";
    let pipeline = json!({"id": 102, "status": "canceled", "queued_duration": 1});
    // `POST …/cancel` answers 200 (`status 200` in lib/api/ci/pipelines.rb); checked as the 201.
    c.check_response("POST", cancel, 200, Some(&pipeline))
        .unwrap();
    let bad = json!({"id": "one-hundred-two"});
    assert!(c.check_response("POST", cancel, 200, Some(&bad)).is_err());
    assert!(c
        .check_response(
            "POST",
            "/api/v4/projects/1/pipelines/102/retry",
            200,
            Some(&pipeline)
        )
        .is_err());
    // The job log is text where the document declares JSON; nowhere else.
    c.check_text_response("GET", "/api/v4/projects/1/jobs/204/trace", 200)
        .unwrap();
    assert!(c
        .check_text_response("GET", "/api/v4/projects/1/pipelines/102", 200)
        .is_err());
    // 401 anywhere, 409 only where listed; their bodies are GitLab's error body.
    let unauthorized = json!({"message": "401 Unauthorized"});
    c.check_response("GET", "/api/v4/user", 401, Some(&unauthorized))
        .unwrap();
    assert!(c
        .check_response("GET", "/api/v4/user", 401, Some(&json!({"message": 401})))
        .is_err());
    let exists = json!({"message": "Label already exists"});
    c.check_response("POST", "/api/v4/projects/1/labels", 409, Some(&exists))
        .unwrap();
    assert!(c
        .check_response("POST", "/api/v4/projects/1/issues", 409, Some(&exists))
        .is_err());
    // Rack's `name[]` is the declared parameter `name`; an undeclared base name is not.
    let q = |k: &str| vec![(k.to_owned(), "failed".to_owned())];
    let jobs = "/api/v4/projects/1/pipelines/102/jobs";
    c.check_request("GET", jobs, &q("scope[]"), None).unwrap();
    assert!(c.check_request("GET", jobs, &q("status[]"), None).is_err());
    // A REST-page body fills a success status GitLab declares without one, and is checked.
    let file = "/api/v4/projects/1/repository/files/README.md";
    assert!(c
        .check_response("GET", file, 200, Some(&json!({"file_name": 5})))
        .is_err());
}

#[test]
fn gitlab_list_widening_still_checks_every_element() {
    let c = gitlab_contract();
    let p = "/api/v4/projects/1/merge_requests/1/discussions";
    let note = json!({"id": 1, "body": "ok", "author": {"id": 2, "username": "u"}});
    let good = json!([{"id": "a", "individual_note": false, "notes": [note]}]);
    c.check_response("GET", p, 200, Some(&good)).unwrap();
    let mut bad = good.clone();
    bad[0]["notes"][0]["body"] = json!(5);
    assert!(
        c.check_response("GET", p, 200, Some(&bad)).is_err(),
        "body 5"
    );
    let mut bad = good.clone();
    bad[0]["notes"][0]["author"]["id"] = json!("two");
    assert!(
        c.check_response("GET", p, 200, Some(&bad)).is_err(),
        "author id"
    );
    assert!(c
        .check_response("GET", p, 200, Some(&json!([[{"id": "nested"}]])))
        .is_err());
    // Query parameters GitLab's document does not declare, or of the wrong type, are violations.
    let q = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    assert!(c
        .check_request(
            "GET",
            "/api/v4/projects/1/repository/tree",
            &q("recursive", "yes"),
            None
        )
        .is_err());
    assert!(c
        .check_request(
            "GET",
            "/api/v4/projects/1/wikis",
            &q("render_html", "true"),
            None
        )
        .is_err());
    // Request bodies are held to GitLab's RequestBody_* schemas (`body` is required).
    assert!(c
        .check_request("POST", p, &[], Some(&json!({"position": {}})))
        .is_err());
    // Error replies carry the REST pages' error body.
    c.check_response("GET", p, 404, Some(&json!({"message": "404 Not found"})))
        .unwrap();
}

#[test]
fn jira_software_answers_match_the_agile_extract() {
    let c = Contract::load(&specs().join("jira-software-agile.json"), "")
        .unwrap()
        .errors_as("ErrorCollection");
    let mut d = Data::seed("jira", "x");
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/rest/agile/1.0/board",
            vec![("projectKeyOrId", "DEMO"), ("type", "scrum")],
        ),
        (
            "/rest/agile/1.0/board/1/sprint",
            vec![("state", "active,future"), ("maxResults", "1")],
        ),
        ("/rest/agile/1.0/board/2/sprint", vec![]),
        (
            "/rest/agile/1.0/sprint/2/issue",
            vec![("fields", "summary,status"), ("jql", "labels = backend")],
        ),
        ("/rest/agile/1.0/epic/DEMO-10/issue", vec![("startAt", "1")]),
    ];
    for (path, query) in cases {
        c.check_request("GET", path, &q(&query), None).unwrap();
        let (status, body) = get(&mut d, "jira", path, &query);
        c.check_response("GET", path, status, Some(&body))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    // A Kanban board has no sprints: 400 with Jira's error body, which the extract declares.
    let (status, body) = get(&mut d, "jira", "/rest/agile/1.0/board/2/sprint", &[]);
    assert_eq!(
        (status, body["errorMessages"][0].as_str()),
        (400, Some("The board does not support sprints"))
    );
    // The move takes exactly the documented body.
    let move_path = "/rest/agile/1.0/sprint/3/issue";
    c.check_request("POST", move_path, &[], Some(&json!({"issues": ["DEMO-1"]})))
        .unwrap();
    let err = c
        .check_request("POST", move_path, &[], Some(&json!({"keys": ["DEMO-1"]})))
        .unwrap_err();
    assert!(err.contains("keys"), "{err}");
}
