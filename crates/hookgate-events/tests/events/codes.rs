use crate::common::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

#[tokio::test]
async fn the_documents_request_is_answered_ok() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let token = token_for(ALICE, 3600);
    // The example request of the document, as it is (a policy-published type, no appKey).
    let documented =
        json!({"auth": token, "action": "attach", "event": {"type": "issueUpdate", "id": "610217e481f6fc54736209e0"}});
    assert_eq!(ask(&mut client, &documented).await, ok());
    assert_eq!(
        ask(&mut client, &request("detach", &token, "issueUpdate", Some("610217e481f6fc54736209e0"))).await,
        ok()
    );
}

#[tokio::test]
async fn code_1_token_not_set() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let expected = refused(1, "Token not set");
    let event = json!({"type": "StreamStatusEvent", "id": "s1"});
    assert_eq!(ask(&mut client, &json!({"action": "attach", "event": event})).await, expected);
    assert_eq!(ask(&mut client, &json!({"auth": "", "action": "attach", "event": event})).await, expected);
    assert_eq!(ask(&mut client, &json!({"auth": null, "action": "attach", "event": event})).await, expected);
}

#[tokio::test]
async fn code_2_invalid_token_for_each_cause() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let claims = json!({"iss": ISSUER, "exp": now() + 3600, "data": {"id": ALICE}});
    let keys = keys();

    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.")
    };
    // Algorithm confusion: HS256 keyed with the RS256 public key the server holds.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(keys.rsa_public.as_bytes()),
    )
    .expect("sign");
    let mut tampered = sign(Algorithm::RS256, &claims);
    tampered.insert_str(tampered.rfind('.').expect("signature") + 1, "AAAA");
    let other_rsa = {
        use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key"),
        )
        .expect("sign")
    };
    let rs384 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS384),
        &claims,
        &EncodingKey::from_rsa_pem(keys.rsa_private.as_bytes()).expect("key"),
    )
    .expect("sign");
    let expired = sign(Algorithm::RS256, &json!({"iss": ISSUER, "exp": now() - 10, "data": {"id": ALICE}}));
    let wrong_issuer =
        sign(Algorithm::RS256, &json!({"iss": "evil.example", "exp": now() + 3600, "data": {"id": ALICE}}));
    let no_issuer = sign(Algorithm::RS256, &json!({"exp": now() + 3600, "data": {"id": ALICE}}));
    let no_exp = sign(Algorithm::RS256, &json!({"iss": ISSUER, "data": {"id": ALICE}}));
    let no_user = sign(Algorithm::RS256, &json!({"iss": ISSUER, "exp": now() + 3600}));

    for (cause, token) in [
        ("not a JWT", "not-a-jwt".to_owned()),
        ("alg none", alg_none),
        ("HS256 signed with the RS256 public key", confused),
        ("tampered signature", tampered),
        ("signed by another RSA key", other_rsa),
        ("RS384: no key is bound to it", rs384),
        ("expired", expired),
        ("wrong issuer", wrong_issuer),
        ("no issuer", no_issuer),
        ("no exp", no_exp),
        ("no data.id nor sub", no_user),
    ] {
        let answer = ask(&mut client, &attach(&token, "StreamStatusEvent", Some("s1"))).await;
        assert_eq!(answer, refused(2, "Invalid token"), "{cause}");
    }
    assert_eq!(server.hub.stats().subscriptions, 0);
}

#[tokio::test]
async fn every_configured_algorithm_verifies_and_sub_names_the_user_without_data_id() {
    let server = Server::start().await;
    for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::HS256] {
        let mut client = server.connect().await;
        let token = sign(algorithm, &json!({"iss": ISSUER, "exp": now() + 60, "sub": BOB}));
        assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("s1"))).await, ok(), "{algorithm:?}");
    }
}

#[tokio::test]
async fn code_3_user_not_exists() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let answer = ask(&mut client, &attach(&token_for("mallory", 3600), "StreamStatusEvent", Some("s1"))).await;
    assert_eq!(answer, refused(3, "User not exists"));
}

#[tokio::test]
async fn code_4_no_access_to_the_tenant_the_type_or_another_users_connection() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let bob = token_for(BOB, 3600);
    let expected = refused(4, "Not access for dataset");
    let mut other_tenant = attach(&bob, "StreamStatusEvent", Some("s1"));
    other_tenant["event"]["appKey"] = json!("app2");
    assert_eq!(ask(&mut client, &other_tenant).await, expected, "Bob may not watch app2");
    assert_eq!(ask(&mut client, &attach(&bob, "CallStatusEvent", Some("c1"))).await, expected, "nor call events");
    assert_eq!(ask(&mut client, &attach(&bob, "StreamStatusEvent", Some("s1"))).await, ok());
    let alice = token_for(ALICE, 3600);
    assert_eq!(ask(&mut client, &attach(&alice, "StreamStatusEvent", Some("s1"))).await, expected, "Bob's connection");
}

#[tokio::test]
async fn code_5_invalid_request() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let token = token_for(ALICE, 3600);
    let expected = refused(5, "Invalid request");
    for text in [
        "not json".to_owned(),
        "[]".to_owned(),
        json!({"auth": token, "action": "subscribe", "event": {"type": "StreamStatusEvent", "id": "s1"}}).to_string(),
        json!({"auth": token, "action": "attach"}).to_string(),
        json!({"auth": token, "action": "attach", "event": {"id": "s1"}}).to_string(),
        json!({"auth": token, "action": "attach", "event": {"type": "StreamStatusEvent"}}).to_string(),
        json!({"auth": token, "action": "attach", "event": {"type": "StreamStatusEvent", "id": 5}}).to_string(),
    ] {
        send_text(&mut client, &text).await;
        assert_eq!(next_json(&mut client).await, expected, "{text}");
    }
    assert_eq!(ask(&mut client, &attach(&token, "notification", None)).await, ok(), "notification needs no id");
}
