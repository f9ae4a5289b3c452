"""boto3 (botocore, as the AWS CLI) drives what aws-sim added for issue 23: SSM DescribeParameters and
activations, EC2 networking and default VPCs, Service Quotas, IAM and KMS set-up, WorkSpaces pages;
Secrets Manager (issue 24), in its JSON protocol; and S3, VM Import and the WorkSpaces BYOL account
setting (issue 23, item 8).
Run by crates/aws-sim/tests/sim/clients.rs with the endpoint as its one argument; exits non-zero on the
first difference, naming it."""

import json
import sys
import time

import boto3
import botocore

URL = sys.argv[1]
REGION = "us-east-1"


def client(service, region=REGION):
    return boto3.client(
        service,
        endpoint_url=URL,
        region_name=region,
        aws_access_key_id="123456789012",
        aws_secret_access_key="x",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def refused(code, call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{call.__name__}: {got}, not {code}"
        return
    raise AssertionError(f"{call.__name__} was not refused with {code}")


ssm = client("ssm")
act = ssm.create_activation(IamRole="recipe-builder", DefaultInstanceName="ws-1")
assert act["ActivationCode"], act
ssm.put_parameter(Name="/recipe/activation/A-1", Type="SecureString", Value="x y", Overwrite=True)
found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": ["/recipe/activation/A-1"]}])
assert [p["Name"] for p in found["Parameters"]] == ["/recipe/activation/A-1"], found
assert "Value" not in found["Parameters"][0]
sealed = ssm.get_parameter(Name="/recipe/activation/A-1")["Parameter"]["Value"]
assert sealed != "x y", "a SecureString read without decryption is not its value"
assert ssm.get_parameter(Name="/recipe/activation/A-1", WithDecryption=True)["Parameter"]["Value"] == "x y"
assert ssm.get_parameters(Names=["/recipe/activation/A-1"])["Parameters"][0]["Value"] == sealed

ec2 = client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
routes = tables["RouteTables"][0]["Routes"]
assert any(r.get("GatewayId") == igw for r in routes), routes
ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.ssm", VpcEndpointType="Interface")
eps = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
assert eps[0]["PrivateDnsEnabled"] is True, eps
sub = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
assert sub["MapPublicIpOnLaunch"] is True, sub
default = [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]]
assert len(default) == 1, default
ec2.delete_vpc(VpcId=default[0])
image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
refused("VPCIdNotSpecified", ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1)
ec2.create_default_vpc()
refused("DefaultVpcAlreadyExists", ec2.create_default_vpc)
types = ec2.describe_instance_types(InstanceTypes=["m6i.2xlarge"])["InstanceTypes"]
assert types[0]["VCpuInfo"]["DefaultVCpus"] == 8, types

sq = client("service-quotas")
q = sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
assert q["Value"] == 256.0, q
sq.request_service_quota_increase(ServiceCode="ec2", QuotaCode="L-1216C47A", DesiredValue=512.0)
assert sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]["Value"] == 512.0

iam = client("iam")
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
iam.create_role(RoleName="builder", AssumeRolePolicyDocument=trust)
iam.create_instance_profile(InstanceProfileName="builder")
iam.add_role_to_instance_profile(InstanceProfileName="builder", RoleName="builder")
iam.attach_role_policy(RoleName="builder", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
profile = iam.get_instance_profile(InstanceProfileName="builder")["InstanceProfile"]
assert profile["Roles"][0]["RoleName"] == "builder", profile
refused("EntityAlreadyExists", iam.create_role, RoleName="builder", AssumeRolePolicyDocument=trust)

kms = client("kms")
key = kms.create_key()["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName="alias/ami-copies", TargetKeyId=key)
assert kms.describe_key(KeyId="alias/ami-copies")["KeyMetadata"]["KeyId"] == key
refused("ValidationException", kms.create_alias, AliasName="alias/aws/ebs", TargetKeyId=key)

# A directory, as WorkSpaces needs one: Directory Service in two subnets, the workspaces_DefaultRole,
# then its registration.
ws = client("workspaces")
second = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
ds = client("ds")
refused("ClientException", ds.create_directory, Name="corp.example.com", Password="Passw0rd!2026", Size="Small", VpcSettings={"VpcId": vpc, "SubnetIds": [subnet]})
directory = ds.create_directory(Name="corp.example.com", Password="Passw0rd!2026", Size="Small", VpcSettings={"VpcId": vpc, "SubnetIds": [subnet, second]})["DirectoryId"]
deadline = time.monotonic() + 10
while time.monotonic() < deadline and ds.describe_directories(DirectoryIds=[directory])["DirectoryDescriptions"][0]["Stage"] != "Active":
    time.sleep(0.02)
refused("WorkspacesDefaultRoleNotFoundException", ws.register_workspace_directory, DirectoryId=directory)
ws_trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "workspaces.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
iam.create_role(RoleName="workspaces_DefaultRole", AssumeRolePolicyDocument=ws_trust)
ws.register_workspace_directory(DirectoryId=directory)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and ws.describe_workspace_directories(DirectoryIds=[directory])["Directories"][0]["State"] != "REGISTERED":
    time.sleep(0.02)
requests = [{"DirectoryId": directory, "UserName": f"u{i}", "BundleId": "wsb-clj85qzj1"} for i in range(25)]
ws.create_workspaces(Workspaces=requests)
ws.create_workspaces(Workspaces=[{"DirectoryId": directory, "UserName": f"v{i}", "BundleId": "wsb-clj85qzj1"} for i in range(5)])
first = ws.describe_workspaces()
assert len(first["Workspaces"]) == 25 and first.get("NextToken"), len(first["Workspaces"])
pages = ws.get_paginator("describe_workspaces").paginate()
assert sum(len(p["Workspaces"]) for p in pages) == 30

sm = client("secretsmanager", "eu-west-2")
made = sm.create_secret(Name="hr/api-token", SecretString="s3cr3t", Tags=[{"Key": "team", "Value": "hr"}])
assert made["ARN"].startswith("arn:aws:secretsmanager:eu-west-2:123456789012:secret:hr/api-token-"), made
refused("ResourceExistsException", sm.create_secret, Name="hr/api-token", SecretString="x")
seen = sm.describe_secret(SecretId="hr/api-token")
assert seen["ARN"] == made["ARN"] and {"Key": "team", "Value": "hr"} in seen["Tags"], seen
assert "SecretString" not in seen
assert sm.get_secret_value(SecretId=made["ARN"])["SecretString"] == "s3cr3t"
sm.put_secret_value(SecretId="hr/api-token", SecretString="n3w")
assert sm.get_secret_value(SecretId="hr/api-token")["SecretString"] == "n3w"
sm.tag_resource(SecretId="hr/api-token", Tags=[{"Key": "stage", "Value": "dev"}])
sm.untag_resource(SecretId="hr/api-token", TagKeys=["team"])
assert sm.describe_secret(SecretId="hr/api-token")["Tags"] == [{"Key": "stage", "Value": "dev"}]
listed = [s["Name"] for p in sm.get_paginator("list_secrets").paginate() for s in p["SecretList"]]
assert listed == ["hr/api-token"], listed
refused("ResourceNotFoundException", sm.describe_secret, SecretId="hr/nothing")
refused("ResourceNotFoundException", client("secretsmanager").get_secret_value, SecretId="hr/api-token")
sm.delete_secret(SecretId="hr/api-token", RecoveryWindowInDays=7)
refused("InvalidRequestException", sm.get_secret_value, SecretId="hr/api-token")
assert sm.describe_secret(SecretId="hr/api-token")["DeletedDate"]

# Issue 23, BYOL: S3 (path style, as botocore picks for a custom endpoint), VM Import and the
# WorkSpaces account setting, then an import WorkSpaces takes.
s3 = client("s3", "eu-west-2")
refused("IllegalLocationConstraintException", s3.create_bucket, Bucket="acme-vm")
s3.create_bucket(Bucket="acme-vm", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
refused("BucketAlreadyOwnedByYou", s3.create_bucket, Bucket="acme-vm", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
s3.put_object(Bucket="acme-vm", Key="vm/win10.vhd", Body=b"aws-sim-guest-os: Windows 10 Enterprise 22H2\n")
assert s3.get_object(Bucket="acme-vm", Key="vm/win10.vhd")["Body"].read().startswith(b"aws-sim-guest-os")
refused("404", s3.head_object, Bucket="acme-vm", Key="vm/none.vhd")
refused("NoSuchKey", s3.get_object, Bucket="acme-vm", Key="vm/none.vhd")
ec2w = client("ec2", "eu-west-2")
disk = [{"Format": "VHD", "UserBucket": {"S3Bucket": "acme-vm", "S3Key": "vm/win10.vhd"}}]
refused("InvalidParameter", ec2w.import_image, LicenseType="BYOL", DiskContainers=disk)
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "vmie.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
client("iam").create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(trust))
task = ec2w.import_image(LicenseType="BYOL", DiskContainers=disk)["ImportTaskId"]
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    t = ec2w.describe_import_image_tasks(ImportTaskIds=[task])["ImportImageTasks"][0]
    if t["Status"] != "active":
        break
assert t["Status"] == "completed", t
img = ec2w.describe_images(ImageIds=[t["ImageId"]])["Images"][0]
assert (img["PlatformDetails"], img["UsageOperation"]) == ("Windows BYOL", "RunInstances:0800"), img
wsw = client("workspaces", "eu-west-2")
assert wsw.describe_account()["DedicatedTenancySupport"] == "DISABLED"
refused("OperationNotSupportedException", wsw.import_workspace_image, Ec2ImageId=t["ImageId"], IngestionProcess="BYOL_REGULAR_WSP", ImageName="byol-desk", ImageDescription="BYOL desk")
cidr = wsw.list_available_management_cidr_ranges(ManagementCidrRangeConstraint="10.0.0.0/8")["ManagementCidrRanges"][0]
wsw.modify_account(DedicatedTenancySupport="ENABLED", DedicatedTenancyManagementCidrRange=cidr)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and wsw.describe_account()["DedicatedTenancySupport"] != "ENABLED":
    time.sleep(0.02)
assert wsw.describe_account_modifications()["AccountModifications"][0]["ModificationState"] == "COMPLETED"
made = wsw.import_workspace_image(Ec2ImageId=t["ImageId"], IngestionProcess="BYOL_REGULAR_WSP", ImageName="byol-desk", ImageDescription="BYOL desk")
assert made["ImageId"].startswith("wsi-"), made

# AppStream passes only a role of the caller's account that trusts appstream.amazonaws.com; a builder
# reports its network interface.
apps = client("appstream", "eu-west-2")
builder = {"ImageName": "AppStream-AmazonLinux2-06-17-2025", "InstanceType": "stream.standard.medium"}
refused("InvalidRoleException", apps.create_image_builder, Name="b-none", IamRoleArn="arn:aws:iam::123456789012:role/nobody", **builder)
refused("InvalidRoleException", apps.create_image_builder, Name="b-other", IamRoleArn="arn:aws:iam::111122223333:role/builder", **builder)
refused("InvalidRoleException", apps.create_image_builder, Name="b-ec2", IamRoleArn="arn:aws:iam::123456789012:role/builder", **builder)
as_trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "appstream.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
iam.create_role(RoleName="apps-builder", AssumeRolePolicyDocument=as_trust)
assert "appstream.amazonaws.com" in json.dumps(iam.get_role(RoleName="apps-builder")["Role"]["AssumeRolePolicyDocument"])
made = apps.create_image_builder(Name="b-ok", IamRoleArn="arn:aws:iam::123456789012:role/apps-builder", **builder)["ImageBuilder"]
assert made["NetworkAccessConfiguration"]["EniPrivateIpAddress"].startswith("10."), made

print("boto3: every call as AWS answers it")
