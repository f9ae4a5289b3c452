# Unpack an exported Chef policy (`chef export gis-session.lock.json --archive`) to C:\chef\gis-session
# and run it once in why-run mode, so the cookbooks are cached and the session-start run is fast.
# Inputs (environment): POLICY_ARCHIVE, POLICY_VERSION.
$ErrorActionPreference = 'Stop'

$dest = 'C:\chef\gis-session'
if (Test-Path $dest) { Remove-Item $dest -Recurse -Force }
New-Item -ItemType Directory -Path $dest -Force | Out-Null
tar.exe -xzf $env:POLICY_ARCHIVE -C $dest
if ($LASTEXITCODE -ne 0) { throw "could not unpack $env:POLICY_ARCHIVE" }
Remove-Item $env:POLICY_ARCHIVE -Force

$lock = Get-Content (Join-Path $dest 'Policyfile.lock.json') -Raw | ConvertFrom-Json
Write-Output "staged Chef policy $($lock.name) $env:POLICY_VERSION (revision $($lock.revision_id))"

Set-Location $dest
& 'C:\opscode\chef\bin\chef-client.bat' --local-mode --chef-license accept-silent --why-run --log_level warn
if ($LASTEXITCODE -ne 0) { throw "chef-client why-run exited with $LASTEXITCODE" }

# Only Administrators may change the policy; sessions read it.
icacls.exe 'C:\chef' /inheritance:r /grant:r 'Administrators:(OI)(CI)F' 'SYSTEM:(OI)(CI)F' 'Users:(OI)(CI)RX' | Out-Null
