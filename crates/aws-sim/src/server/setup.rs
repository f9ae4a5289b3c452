//! What a platform team does once on an account, done through the same handlers its API calls
//! reach: here, enabling WorkSpaces BYOL and importing a Windows VM of the account's own licence
//! (the steps of "Bring Your Own Windows desktop licenses", WorkSpaces Administration Guide).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Sim, handle, lock};
use crate::ApiError;
use crate::protocol::{Call, Output, Protocol};

impl Sim {
    /// One API call as `account` in `region`, through the handler a client's request reaches.
    pub(crate) fn call_as(
        &self,
        account: &str,
        region: &str,
        call: Call,
    ) -> Result<Output, ApiError> {
        let call = Call {
            account: account.into(),
            region: region.into(),
            ..call
        };
        handle(&self.shared, &call, "")
    }

    /// Enable the account for WorkSpaces BYOL in `region` (step 1 of the guide):
    /// ListAvailableManagementCidrRanges in 10.0.0.0/8, then ModifyAccount with the first range.
    pub fn enable_byol(&self, account: &str, region: &str) -> Result<(), String> {
        let ranges = self
            .call_as(
                account,
                region,
                json_call(
                    "workspaces",
                    "ListAvailableManagementCidrRanges",
                    json!({ "ManagementCidrRangeConstraint": "10.0.0.0/8" }),
                ),
            )
            .map_err(|e| e.message)?;
        let first = value(&ranges)["ManagementCidrRanges"][0]
            .as_str()
            .ok_or("no management range is free")?
            .to_string();
        let modify = json!({ "DedicatedTenancySupport": "ENABLED", "DedicatedTenancyManagementCidrRange": first });
        self.call_as(
            account,
            region,
            json_call("workspaces", "ModifyAccount", modify),
        )
        .map(|_| ())
        .map_err(|e| e.message)
    }

    /// Import a VM whose disk carries `guest_os` (steps 3 and 4 of the guide): the disk put in an S3
    /// bucket of the account's, the `vmimport` service role, ImportImage with `LicenseType` BYOL.
    /// Answers the import task's id; its AMI comes when the task completes
    /// (DescribeImportImageTasks).
    pub fn import_vm(&self, account: &str, region: &str, guest_os: &str) -> Result<String, String> {
        let bucket = format!("vm-import-{account}-{region}");
        let location = if region == "us-east-1" {
            String::new()
        } else {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            )
        };
        let _ = self.call_as(
            account,
            region,
            s3_call("CreateBucket", &bucket, "", location.into_bytes()),
        );
        let disk = format!("aws-sim-guest-os: {guest_os}\n").into_bytes();
        self.call_as(
            account,
            region,
            s3_call("PutObject", &bucket, "vm/disk.vhd", disk),
        )
        .map_err(|e| e.message)?;
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vmie.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:Externalid":"vmimport"}}}]}"#;
        let role = [
            ("RoleName", "vmimport"),
            ("AssumeRolePolicyDocument", trust),
        ];
        let _ = self.call_as(account, region, query_call("iam", "CreateRole", &role));
        let import = [
            ("LicenseType", "BYOL"),
            ("Description", guest_os),
            ("DiskContainer.1.Format", "VHD"),
            ("DiskContainer.1.UserBucket.S3Bucket", bucket.as_str()),
            ("DiskContainer.1.UserBucket.S3Key", "vm/disk.vhd"),
        ];
        let out = self
            .call_as(account, region, query_call("ec2", "ImportImage", &import))
            .map_err(|e| e.message)?;
        let Output::Xml(xml) = out else {
            return Err("ImportImage answered no XML".into());
        };
        xml.split("<importTaskId>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .map(str::to_string)
            .ok_or_else(|| "ImportImage answered no task id".into())
    }

    /// The directory `id` registered with WorkSpaces for `account` in `region`, as its platform team
    /// would have it: a Directory Service directory, the `workspaces_DefaultRole` role, then
    /// RegisterWorkspaceDirectory, waited for until REGISTERED. The directory is recorded under the
    /// id the recipes name (CreateDirectory would make up another: the one exception to going
    /// through the API, as for the subnets recipes name); the rest goes through the handlers.
    pub fn provide_directory(&self, account: &str, region: &str, id: &str) -> Result<(), String> {
        {
            let mut w = lock(&self.shared.world);
            let key = crate::ds::key(account, region, id);
            w.directories
                .entry(key)
                .or_insert_with(|| crate::ds::Directory {
                    id: id.into(),
                    owner: account.into(),
                    region: region.into(),
                    name: "corp.example.com".into(),
                    size: "Small".into(),
                    ..Default::default()
                });
        }
        self.provide_role(
            account,
            "workspaces_DefaultRole",
            "workspaces.amazonaws.com",
        );
        let register = json!({ "DirectoryId": id });
        match self.call_as(
            account,
            region,
            json_call("workspaces", "RegisterWorkspaceDirectory", register),
        ) {
            Ok(_) => {}
            Err(e) if e.code == "ResourceAlreadyExistsException" => {}
            Err(e) => return Err(e.message),
        }
        let describe = || {
            json_call(
                "workspaces",
                "DescribeWorkspaceDirectories",
                json!({ "DirectoryIds": [id] }),
            )
        };
        for _ in 0..2_000 {
            let out = self
                .call_as(account, region, describe())
                .map_err(|e| e.message)?;
            if value(&out)["Directories"][0]["State"] == "REGISTERED" {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Err(format!("{id} was not REGISTERED within 10 s"))
    }

    /// The AMI an import task made, once it completed; why it failed, once it did.
    pub fn imported_image(&self, task: &str) -> Option<Result<String, String>> {
        let (owner, region) = {
            let w = lock(&self.shared.world);
            let t = w.ec2.import_tasks.get(task)?;
            (t.owner.clone(), t.region.clone())
        };
        let ids = [("ImportTaskId.1", task)];
        let _ = self.call_as(
            &owner,
            &region,
            query_call("ec2", "DescribeImportImageTasks", &ids),
        );
        let w = lock(&self.shared.world);
        let t = w.ec2.import_tasks.get(task)?;
        match t.status.as_str() {
            "completed" => t.image_id.clone().map(Ok),
            "deleted" => Some(Err(t.status_message.clone())),
            _ => None,
        }
    }
}

fn value(out: &Output) -> Value {
    match out {
        Output::Value(v) => v.clone(),
        Output::Xml(_) => Value::Null,
    }
}

fn blank(service: &str, op: &str, protocol: Protocol) -> Call {
    Call {
        service: service.into(),
        op: op.into(),
        protocol,
        region: String::new(),
        account: String::new(),
        params: BTreeMap::new(),
        body: Value::Null,
        raw: vec![],
    }
}

fn json_call(service: &str, op: &str, body: Value) -> Call {
    Call {
        body,
        ..blank(service, op, Protocol::Json)
    }
}

fn query_call(service: &str, op: &str, params: &[(&str, &str)]) -> Call {
    Call {
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..blank(service, op, Protocol::Query)
    }
}

fn s3_call(op: &str, bucket: &str, key: &str, raw: Vec<u8>) -> Call {
    let mut c = blank("s3", op, Protocol::RestXml);
    c.params.insert("Bucket".into(), bucket.into());
    c.params.insert("Key".into(), key.into());
    c.raw = raw;
    c
}
