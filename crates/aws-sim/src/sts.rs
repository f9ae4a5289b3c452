//! STS over awsQuery: GetCallerIdentity, so that a client can learn which account its credentials
//! belong to.
//!
//! GetCallerIdentity needs no permission and returns `Account`, `Arn` and `UserId`
//! (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html). The account is
//! the one the access key acts as (see the crate docs). aws-sim knows no IAM users or roles, so the
//! ARN it answers is the account root's, `arn:aws:iam::ACCOUNT:root`, and the user id is the access
//! key's account: a real caller's ARN cannot be known here.

use crate::ApiError;
use crate::protocol::Output;

/// The STS API version (the `xmlns` of every answer).
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Handle one STS call.
pub fn handle(
    _: &mut crate::world::World,
    r: &crate::protocol::Req<'_>,
) -> Result<Output, ApiError> {
    let (call, request_id) = (r.call, r.request_id);
    match call.op.as_str() {
        "GetCallerIdentity" => Ok(Output::Xml(format!(
            "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult><Arn>arn:aws:iam::{a}:root</Arn><UserId>{a}</UserId><Account>{a}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
            a = call.account
        ))),
        op => Err(ApiError::unsupported("sts", op)),
    }
}

/// An awsQuery error document (STS's error shape differs from EC2's): `ErrorResponse/Error` with
/// `Type`, `Code` and `Message`
/// (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
pub fn error_xml(code: &str, message: &str, request_id: &str, status: u16) -> String {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        crate::protocol::xml_escape(code),
        crate::protocol::xml_escape(message)
    )
}
