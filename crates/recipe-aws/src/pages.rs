//! Listings AWS answers a page at a time: follow `NextToken` to the last page.

use std::future::Future;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::{AwsError, Context};

/// Every item of a listing, page after page: `page(token)` sends one call, `split` takes the page's
/// items and its `NextToken`. For the operations whose SDK has no paginator (AppStream's
/// DescribeFleets and DescribeImageBuilders, WorkSpaces' DescribeWorkspaceImages, ...): one page is
/// never taken for the whole list.
pub async fn every_page<O, T, E, F, Fut>(
    (service, operation): (&'static str, &'static str),
    mut page: F,
    split: impl Fn(O) -> (Option<Vec<T>>, Option<String>),
) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<O, SdkError<E, Response>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (mut all, mut token) = (Vec::new(), None);
    loop {
        let (items, next) = split(page(token.take()).await.ctx(service, operation)?);
        all.extend(items.unwrap_or_default());
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(all),
        }
    }
}
