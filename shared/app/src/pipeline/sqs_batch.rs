//! SQS batch-failure reporting, once for every SQS-triggered function (deliver, flush
//! requests, export jobs): the function answers with the ids of the messages to retry
//! (`ReportBatchItemFailures`), and Lambda deletes the rest.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};

/// The response that asks Lambda to retry exactly the messages `failed` names.
pub fn response(failed: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_failed_message_once() {
        let r = response(["m1".to_string(), "m3".to_string()]);
        let ids: Vec<&str> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["m1", "m3"]);
        assert!(response(Vec::new()).batch_item_failures.is_empty());
    }
}
