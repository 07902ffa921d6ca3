//! Token checks beyond the signature: `nbf`, the audience, `kid`, the user claim's type, and
//! keys replaced on disk. Each refusal is code 2 and attaches nothing.

use crate::common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Claims of a valid token for Alice, with `extra` merged in (a `null` removes a claim).
fn claims(extra: Value) -> Value {
    let mut claims = json!({"iss": ISSUER, "exp": now() + 3600, "data": {"id": ALICE}});
    for (name, value) in extra.as_object().expect("an object") {
        match value {
            Value::Null => claims.as_object_mut().expect("object").remove(name),
            value => claims.as_object_mut().expect("object").insert(name.clone(), value.clone()),
        };
    }
    claims
}

/// Asks to attach `s1` with `token`: the answer must be code 2, and nothing attached.
async fn assert_invalid(server: &Server, client: &mut Client, token: &str, cause: &str) {
    let answer = ask(client, &attach(token, "StreamStatusEvent", Some("s1"))).await;
    assert_eq!(answer, refused(2, "Invalid token"), "{cause}");
    assert_eq!(server.hub.stats().subscriptions, 0, "{cause}: nothing attached");
}

/// Proves that the refused requests attached nothing: with a valid token the client attaches
/// only `sentinel`; an event for `s1` published before it must not arrive.
async fn assert_only_sentinel_arrives(server: &Server, client: &mut Client) {
    assert_only_sentinel_arrives_with(server, client, &token_for(ALICE, 3600)).await;
}

async fn assert_only_sentinel_arrives_with(server: &Server, client: &mut Client, token: &str) {
    let mut sentinel = attach(token, "StreamStatusEvent", Some("sentinel"));
    sentinel["event"]["appKey"] = json!("app1");
    assert_eq!(ask(client, &sentinel).await, ok());
    server.hub.publish("app1", "StreamStatusEvent", "s1", json!({"refused": true}));
    server.hub.publish("app1", "StreamStatusEvent", "sentinel", json!({}));
    assert_eq!(next_json(client).await, json!({"type": "StreamStatusEvent", "id": "sentinel", "data": {}}));
    assert_eq!(server.hub.stats().subscriptions, 1);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused_and_the_leeway_applies_to_nbf() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let early = sign(Algorithm::RS256, &claims(json!({"nbf": now() + 60})));
    assert_invalid(&server, &mut client, &early, "nbf a minute ahead").await;
    let malformed = sign(Algorithm::RS256, &claims(json!({"nbf": "tomorrow"})));
    assert_invalid(&server, &mut client, &malformed, "nbf not a number").await;
    assert_only_sentinel_arrives(&server, &mut client).await;
    let started = sign(Algorithm::RS256, &claims(json!({"nbf": now() - 1})));
    assert_eq!(ask(&mut client, &attach(&started, "StreamStatusEvent", Some("s1"))).await, ok(), "nbf passed");

    let lenient = Server::with_config(|config| config.leeway_seconds = 120).await;
    let mut client = lenient.connect().await;
    assert_eq!(ask(&mut client, &attach(&early, "StreamStatusEvent", Some("s1"))).await, ok(), "within the leeway");
    let later = sign(Algorithm::RS256, &claims(json!({"nbf": now() + 600})));
    let answer = ask(&mut client, &attach(&later, "StreamStatusEvent", Some("s2"))).await;
    assert_eq!(answer, refused(2, "Invalid token"), "beyond the leeway");
    assert_eq!(lenient.hub.stats().subscriptions, 2, "only s1, in both tenants");
}

#[tokio::test]
async fn a_configured_audience_must_be_in_aud() {
    let server = Server::with_config(|config| config.audience = Some("events.test".into())).await;
    let mut client = server.connect().await;
    for (cause, aud) in [
        ("no aud", Value::Null),
        ("another audience", json!("other.test")),
        ("none of the array", json!(["other.test", "third.test"])),
        ("not a string", json!(5)),
    ] {
        let token = sign(Algorithm::RS256, &claims(json!({"aud": aud})));
        assert_invalid(&server, &mut client, &token, cause).await;
    }
    let valid = sign(Algorithm::RS256, &claims(json!({"aud": "events.test"})));
    assert_only_sentinel_arrives_with(&server, &mut client, &valid).await;
    for aud in [json!("events.test"), json!(["other.test", "events.test"])] {
        let token = sign(Algorithm::RS256, &claims(json!({"aud": aud})));
        assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("s1"))).await, ok(), "aud {aud}");
    }
}

#[tokio::test]
async fn without_a_configured_audience_a_token_naming_one_is_refused() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    for (cause, aud) in [("a string", json!("other.test")), ("an array", json!(["other.test"])), ("a number", json!(5))]
    {
        let token = sign(Algorithm::RS256, &claims(json!({"aud": aud})));
        assert_invalid(&server, &mut client, &token, cause).await;
    }
    assert_only_sentinel_arrives(&server, &mut client).await;
}

#[tokio::test]
async fn a_kid_that_names_no_key_is_refused_even_if_a_kid_less_key_verifies_it() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("2026-unknown".into());
    let key = EncodingKey::from_rsa_pem(keys().rsa_private.as_bytes()).expect("RSA key");
    // Signed with the very key the server holds (which has no kid): the kid alone refuses it.
    let token = jsonwebtoken::encode(&header, &claims(json!({})), &key).expect("sign");
    assert_invalid(&server, &mut client, &token, "unknown kid").await;
    assert_only_sentinel_arrives(&server, &mut client).await;
}

#[tokio::test]
async fn a_user_id_that_is_not_a_string_is_an_invalid_token_not_a_fallback_to_sub() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    // Bob exists: a fallback to `sub` would attach as Bob.
    for (cause, extra) in [
        ("data.id a number", json!({"sub": BOB, "data": {"id": 42}})),
        ("data.id null", json!({"sub": BOB, "data": {"id": null}})),
        ("data.id an object", json!({"sub": BOB, "data": {"id": {"id": BOB}}})),
        ("data not an object", json!({"sub": BOB, "data": BOB})),
        ("sub a number", json!({"sub": 42, "data": Value::Null})),
    ] {
        let mut claims = claims(json!({}));
        if let Value::Object(extra) = extra {
            claims.as_object_mut().expect("object").extend(extra);
        }
        let token = sign(Algorithm::RS256, &claims);
        assert_invalid(&server, &mut client, &token, cause).await;
    }
    assert_only_sentinel_arrives(&server, &mut client).await;
}

#[tokio::test]
async fn a_key_file_replaced_on_disk_verifies_with_its_new_content() {
    let server = Server::start().await;
    let old_secret = keys().hs_secret.clone();
    let new_secret: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(91).wrapping_add(3)).collect();
    let hs256 = |secret: &[u8]| {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(json!({})), &EncodingKey::from_secret(secret))
            .expect("sign")
    };
    let mut client = server.connect().await;
    assert_eq!(ask(&mut client, &attach(&hs256(&old_secret), "StreamStatusEvent", Some("s0"))).await, ok());
    assert_eq!(ask(&mut client, &request("detach", &hs256(&old_secret), "StreamStatusEvent", Some("s0"))).await, ok());

    // Rotated the way a deployment does it: the new file moved into place.
    let path = server.dir.path().join("hs256.key");
    let next = server.dir.path().join("hs256.key.next");
    std::fs::write(&next, &new_secret).expect("write the new key");
    std::fs::rename(&next, &path).expect("move it into place");
    assert_invalid(&server, &mut client, &hs256(&old_secret), "signed with the replaced secret").await;
    assert_eq!(ask(&mut client, &attach(&hs256(&new_secret), "StreamStatusEvent", Some("s2"))).await, ok());
    assert_eq!(ask(&mut client, &request("detach", &hs256(&new_secret), "StreamStatusEvent", Some("s2"))).await, ok());

    // A file that no longer holds a usable key keeps the last good one in force.
    std::fs::write(&next, b"short").expect("write a broken key");
    std::fs::rename(&next, &path).expect("move it into place");
    assert_eq!(ask(&mut client, &attach(&hs256(&new_secret), "StreamStatusEvent", Some("s3"))).await, ok());
    assert_eq!(ask(&mut client, &request("detach", &hs256(&new_secret), "StreamStatusEvent", Some("s3"))).await, ok());
    assert_invalid(&server, &mut client, &hs256(&old_secret), "the old secret stays refused").await;
    assert_only_sentinel_arrives(&server, &mut client).await;
}
