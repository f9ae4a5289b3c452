# First boot: fetch the current orders API build for this release channel and switch IIS to it.
# Inputs (environment): RELEASE_CHANNEL, SITE_PATH. Credentials come from the instance profile.
$ErrorActionPreference = 'Stop'

$bucket  = 'acme-releases'
$prefix  = "orders-api/$env:RELEASE_CHANNEL"
$current = (Read-S3Object -BucketName $bucket -Key "$prefix/CURRENT" -File "$env:TEMP\CURRENT" | Get-Content -Raw).Trim()
$zip     = Join-Path $env:TEMP "orders-api-$current.zip"

Read-S3Object -BucketName $bucket -Key "$prefix/orders-api-$current.zip" -File $zip | Out-Null
$expected = (Read-S3Object -BucketName $bucket -Key "$prefix/orders-api-$current.zip.sha256" -File "$zip.sha256" | Get-Content -Raw).Trim()
$actual   = (Get-FileHash -Algorithm SHA256 $zip).Hash
if ($actual -ne $expected) { throw "checksum mismatch for orders-api $current" }

Expand-Archive -Path $zip -DestinationPath $env:SITE_PATH -Force
Remove-Item (Join-Path $env:SITE_PATH 'app_offline.htm') -ErrorAction SilentlyContinue
Remove-Item $zip, "$zip.sha256", "$env:TEMP\CURRENT" -Force

Restart-WebAppPool -Name 'orders-api'
Write-Output "orders-api $current deployed from $prefix"
