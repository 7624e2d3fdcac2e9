//! The local stream poller (`auditctl serve`'s fanout trigger) records how far it got per shard
//! in the config table and a new poller resumes after it; a missing position, or one that is
//! not in the shard, reads the shard from its oldest record instead.

use relay_app::local::StreamPoller;
use relay_store::stream_position::ShardPosition;
use serde_json::json;
use support::webhooks::WebhookEnv;

/// Reads until the stream has nothing new; the records read.
async fn read_all(p: &mut StreamPoller) -> usize {
    let mut total = 0;
    loop {
        match p.poll_once().await.unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

#[tokio::test]
async fn a_new_stream_poller_resumes_after_the_recorded_position() {
    let w = WebhookEnv::new().await;
    let streams = aws_sdk_dynamodbstreams::Client::new(&support::sdk().await);
    let store = w.env.store.clone();
    let poller = || async {
        StreamPoller::new(
            w.env.store.client(),
            streams.clone(),
            &w.env.config.events_table,
            w.fanout.clone(),
        )
        .await
        .unwrap()
        .with_position(store.clone())
    };
    let ingest = |i: usize| {
        let body = json!({
            "event_id": format!("evt_pos_{i}"),
            "action": "document.opened",
            "actor": {"user_id": "usr_1"},
        });
        let w = &w;
        async move { w.ingest(&body).await }
    };
    for i in 0..5 {
        ingest(i).await;
    }
    let mut first = poller().await;
    assert_eq!(read_all(&mut first).await, 5);
    let arn = first.stream_arn().to_string();
    let positions = store.stream_positions(&arn).await.unwrap();
    assert_eq!(positions.len(), 1, "{positions:?}");
    let (shard, position) = positions.iter().next().unwrap();
    assert!(position.seq.is_some() && !position.closed, "{position:?}");

    // What a restarted process does: nothing is read again, new events are.
    let mut second = poller().await;
    assert_eq!(read_all(&mut second).await, 0);
    ingest(5).await;
    assert_eq!(read_all(&mut second).await, 1);
    assert_ne!(
        store.stream_positions(&arn).await.unwrap()[shard].seq,
        position.seq,
        "the position moved on"
    );

    // Another stream's positions (a recreated table has a new stream ARN) are not this one's.
    assert!(store
        .stream_positions(&format!("{arn}-older"))
        .await
        .unwrap()
        .is_empty());

    // A position before the shard's first record is not in this shard: oldest record.
    let stray = ShardPosition {
        seq: Some("1".into()),
        closed: false,
    };
    store
        .put_stream_position(&arn, shard, &stray, 0)
        .await
        .unwrap();
    assert_eq!(read_all(&mut poller().await).await, 6);

    // No position (deleted, or never written): the whole stream, as before positions existed.
    assert_eq!(store.delete_stream_positions(&arn).await.unwrap(), 1);
    assert_eq!(read_all(&mut poller().await).await, 6);
}
